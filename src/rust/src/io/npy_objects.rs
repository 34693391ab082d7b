//! The object arrays of NumPy `.npy` files that Keras's IMDB and Reuters datasets hold:
//! each element a Python list of integers, stored as a pickle. Read by a small pickle
//! machine that, like Keras's own restricted unpickler, only rebuilds NumPy arrays (the
//! globals `numpy.ndarray`, `numpy.dtype` and `multiarray._reconstruct`) and refuses
//! anything else, so a file cannot run code or make the reader allocate without bound.

use crate::error::{RkError, RkResult};

#[derive(Clone, Debug)]
enum Node {
    None,
    Int(i64),
    Float(f64),
    Text(String),
    Bytes,
    List(Vec<usize>),
    Tuple(Vec<usize>),
    Dict,
    Global(String),
    /// An ndarray being rebuilt: its elements once BUILD has run.
    Array(Vec<usize>),
    Dtype,
}

const ALLOWED: [&str; 4] = [
    "numpy.ndarray",
    "numpy.dtype",
    "numpy.core.multiarray._reconstruct",
    "numpy._core.multiarray._reconstruct",
];

struct Machine<'a> {
    b: &'a [u8],
    at: usize,
    nodes: Vec<Node>,
    stack: Vec<usize>,
    marks: Vec<usize>,
    memo: std::collections::HashMap<u64, usize>,
}

impl<'a> Machine<'a> {
    fn bad(&self, what: &str) -> RkError {
        RkError::Value(format!("malformed pickle at byte {}: {what}", self.at))
    }
    fn take(&mut self, n: usize) -> RkResult<&'a [u8]> {
        if self.at + n > self.b.len() {
            return Err(self.bad("truncated"));
        }
        let s = &self.b[self.at..self.at + n];
        self.at += n;
        Ok(s)
    }
    fn u8(&mut self) -> RkResult<u8> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> RkResult<u32> {
        let s = self.take(4)?;
        Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn line(&mut self) -> RkResult<String> {
        let rest = &self.b[self.at..];
        let n = rest
            .iter()
            .position(|&c| c == b'\n')
            .ok_or_else(|| self.bad("unterminated line"))?;
        let s = String::from_utf8_lossy(&rest[..n]).to_string();
        self.at += n + 1;
        Ok(s)
    }
    fn push(&mut self, n: Node) {
        self.nodes.push(n);
        self.stack.push(self.nodes.len() - 1);
    }
    fn pop(&mut self) -> RkResult<usize> {
        self.stack.pop().ok_or_else(|| self.bad("stack underflow"))
    }
    fn pop_mark(&mut self) -> RkResult<Vec<usize>> {
        let m = self.marks.pop().ok_or_else(|| self.bad("no mark"))?;
        if m > self.stack.len() {
            return Err(self.bad("mark beyond the stack"));
        }
        Ok(self.stack.split_off(m))
    }
    fn top(&self) -> RkResult<usize> {
        self.stack
            .last()
            .copied()
            .ok_or_else(|| self.bad("empty stack"))
    }
    fn append(&mut self, list: usize, items: Vec<usize>) -> RkResult<()> {
        match &mut self.nodes[list] {
            Node::List(v) => {
                v.extend(items);
                Ok(())
            }
            _ => Err(self.bad("append to something not a list")),
        }
    }
    fn global(&mut self, name: String) -> RkResult<()> {
        if !ALLOWED.contains(&name.as_str()) {
            return Err(RkError::Value(format!(
                "the pickle asks for `{name}`, which a dataset file never needs (refused)"
            )));
        }
        self.push(Node::Global(name));
        Ok(())
    }

    fn run(&mut self) -> RkResult<usize> {
        loop {
            let op = self.u8()?;
            match op {
                0x80 => {
                    self.u8()?;
                }
                0x95 => {
                    self.take(8)?;
                }
                b'c' => {
                    let m = self.line()?;
                    let n = self.line()?;
                    self.global(format!("{m}.{n}"))?;
                }
                0x93 => {
                    let n = self.pop()?;
                    let m = self.pop()?;
                    match (&self.nodes[m], &self.nodes[n]) {
                        (Node::Text(m), Node::Text(n)) => {
                            let name = format!("{m}.{n}");
                            self.global(name)?
                        }
                        _ => return Err(self.bad("STACK_GLOBAL without names")),
                    }
                }
                0x8c => {
                    let n = self.u8()? as usize;
                    let s = String::from_utf8_lossy(self.take(n)?).to_string();
                    self.push(Node::Text(s));
                }
                b'X' => {
                    let n = self.u32()? as usize;
                    let s = String::from_utf8_lossy(self.take(n)?).to_string();
                    self.push(Node::Text(s));
                }
                b'U' => {
                    let n = self.u8()? as usize;
                    let s = String::from_utf8_lossy(self.take(n)?).to_string();
                    self.push(Node::Text(s));
                }
                b'T' => {
                    let n = self.u32()? as usize;
                    let s = String::from_utf8_lossy(self.take(n)?).to_string();
                    self.push(Node::Text(s));
                }
                b'C' => {
                    let n = self.u8()? as usize;
                    self.take(n)?;
                    self.push(Node::Bytes);
                }
                b'B' => {
                    let n = self.u32()? as usize;
                    self.take(n)?;
                    self.push(Node::Bytes);
                }
                0x94 => {
                    let t = self.top()?;
                    let k = self.memo.len() as u64;
                    self.memo.insert(k, t);
                }
                b'q' => {
                    let k = self.u8()? as u64;
                    let t = self.top()?;
                    self.memo.insert(k, t);
                }
                b'r' => {
                    let k = self.u32()? as u64;
                    let t = self.top()?;
                    self.memo.insert(k, t);
                }
                b'h' => {
                    let k = self.u8()? as u64;
                    let v = *self.memo.get(&k).ok_or_else(|| self.bad("unknown memo"))?;
                    self.stack.push(v);
                }
                b'j' => {
                    let k = self.u32()? as u64;
                    let v = *self.memo.get(&k).ok_or_else(|| self.bad("unknown memo"))?;
                    self.stack.push(v);
                }
                b'J' => {
                    let v = self.u32()? as i32 as i64;
                    self.push(Node::Int(v));
                }
                b'K' => {
                    let v = self.u8()? as i64;
                    self.push(Node::Int(v));
                }
                b'M' => {
                    let s = self.take(2)?;
                    self.push(Node::Int(u16::from_le_bytes([s[0], s[1]]) as i64));
                }
                0x8a => {
                    let n = self.u8()? as usize;
                    if n > 8 {
                        return Err(self.bad("integer too large"));
                    }
                    let s = self.take(n)?;
                    let mut v: i64 = 0;
                    for (i, &c) in s.iter().enumerate() {
                        v |= (c as i64) << (8 * i);
                    }
                    if n > 0 && n < 8 && s[n - 1] & 0x80 != 0 {
                        v -= 1i64 << (8 * n);
                    }
                    self.push(Node::Int(v));
                }
                b'G' => {
                    let s = self.take(8)?;
                    let mut a = [0u8; 8];
                    a.copy_from_slice(s);
                    self.push(Node::Float(f64::from_be_bytes(a)));
                }
                b'N' => self.push(Node::None),
                0x88 | 0x89 => self.push(Node::Int((op == 0x88) as i64)),
                b')' => self.push(Node::Tuple(Vec::new())),
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    if self.stack.len() < n {
                        return Err(self.bad("stack underflow"));
                    }
                    let items = self.stack.split_off(self.stack.len() - n);
                    self.push(Node::Tuple(items));
                }
                b'(' => self.marks.push(self.stack.len()),
                b't' => {
                    let items = self.pop_mark()?;
                    self.push(Node::Tuple(items));
                }
                b']' => self.push(Node::List(Vec::new())),
                b'l' => {
                    let items = self.pop_mark()?;
                    self.push(Node::List(items));
                }
                b'a' => {
                    let v = self.pop()?;
                    let l = self.top()?;
                    self.append(l, vec![v])?;
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    let l = self.top()?;
                    self.append(l, items)?;
                }
                b'}' => self.push(Node::Dict),
                b's' => {
                    self.pop()?;
                    self.pop()?;
                }
                b'u' => {
                    self.pop_mark()?;
                }
                b'R' => {
                    let _args = self.pop()?;
                    let f = self.pop()?;
                    let made = match &self.nodes[f] {
                        Node::Global(g) if g.ends_with("_reconstruct") => Node::Array(Vec::new()),
                        Node::Global(g) if g == "numpy.dtype" => Node::Dtype,
                        _ => return Err(self.bad("a call the dataset files never make")),
                    };
                    self.push(made);
                }
                b'b' => {
                    let state = self.pop()?;
                    let obj = self.top()?;
                    if let Node::Array(_) = self.nodes[obj] {
                        // (version, shape, dtype, is_fortran, elements)
                        let items = match &self.nodes[state] {
                            Node::Tuple(t) if t.len() == 5 => match &self.nodes[t[4]] {
                                Node::List(v) => v.clone(),
                                _ => return Err(self.bad("an array without a list of elements")),
                            },
                            _ => return Err(self.bad("an array state that is not a 5-tuple")),
                        };
                        self.nodes[obj] = Node::Array(items);
                    }
                }
                b'.' => return self.pop(),
                other => return Err(self.bad(&format!("unsupported opcode 0x{other:02x}"))),
            }
        }
    }
}

/// The elements of a pickled object array, each a list of integers.
pub fn integer_lists(pickle: &[u8]) -> RkResult<Vec<Vec<i64>>> {
    let mut m = Machine {
        b: pickle,
        at: 0,
        nodes: Vec::new(),
        stack: Vec::new(),
        marks: Vec::new(),
        memo: std::collections::HashMap::new(),
    };
    let root = m.run()?;
    let Node::Array(items) = &m.nodes[root] else {
        return Err(RkError::Value(
            "the pickle does not hold a NumPy array".into(),
        ));
    };
    items
        .iter()
        .map(|&i| match &m.nodes[i] {
            Node::List(v) => v
                .iter()
                .map(|&j| match m.nodes[j] {
                    Node::Int(x) => Ok(x),
                    Node::Float(x) if x.fract() == 0.0 => Ok(x as i64),
                    _ => Err(RkError::Value(
                        "a sequence holds something not an integer".into(),
                    )),
                })
                .collect(),
            _ => Err(RkError::Value(
                "an element of the array is not a list".into(),
            )),
        })
        .collect()
}

/// The pickled payload of an object-dtype `.npy` file (after its header).
pub fn object_npy_payload(npy: &[u8]) -> RkResult<&[u8]> {
    if npy.len() < 10 || &npy[..6] != b"\x93NUMPY" {
        return Err(RkError::Value("not a .npy file (bad magic string)".into()));
    }
    let (hlen, start) = match npy[6] {
        1 => (u16::from_le_bytes([npy[8], npy[9]]) as usize, 10),
        2 | 3 if npy.len() >= 12 => (
            u32::from_le_bytes([npy[8], npy[9], npy[10], npy[11]]) as usize,
            12,
        ),
        v => return Err(RkError::Value(format!("unsupported .npy version {v}"))),
    };
    if start + hlen > npy.len() {
        return Err(RkError::Value("the .npy header is cut short".into()));
    }
    let header = String::from_utf8_lossy(&npy[start..start + hlen]);
    if !header.contains("'descr': '|O'") {
        return Err(RkError::Value(format!(
            "the .npy file does not hold an object array ({})",
            header.trim()
        )));
    }
    Ok(&npy[start + hlen..])
}

/// NumPy's legacy `RandomState(seed).shuffle(arange(n))`: Mersenne Twister seeded by
/// `init_genrand`, and each swap index drawn by masked rejection, from the end down.
pub fn numpy_shuffle(n: usize, seed: u32) -> Vec<usize> {
    numpy_shuffles(&[n], seed).remove(0)
}

/// Several shuffles drawn one after the other from one `RandomState(seed)`.
pub fn numpy_shuffles(ns: &[usize], seed: u32) -> Vec<Vec<usize>> {
    let mut mt = [0u32; 624];
    mt[0] = seed;
    for i in 1..624 {
        mt[i] = 1_812_433_253u32
            .wrapping_mul(mt[i - 1] ^ (mt[i - 1] >> 30))
            .wrapping_add(i as u32);
    }
    let mut idx = 624;
    let mut next = || {
        if idx >= 624 {
            for k in 0..624 {
                let y = (mt[k] & 0x8000_0000) | (mt[(k + 1) % 624] & 0x7fff_ffff);
                let mut v = mt[(k + 397) % 624] ^ (y >> 1);
                if y & 1 != 0 {
                    v ^= 0x9908_b0df;
                }
                mt[k] = v;
            }
            idx = 0;
        }
        let mut y = mt[idx];
        idx += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^= y >> 18;
        y
    };
    let mut all = Vec::new();
    for &n in ns {
        let mut out: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            let max = i as u64;
            let mut mask = max;
            for s in [1, 2, 4, 8, 16, 32] {
                mask |= mask >> s;
            }
            let j = loop {
                let v = next() as u64 & mask;
                if v <= max {
                    break v as usize;
                }
            };
            out.swap(i, j);
        }
        all.push(out);
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numpy_shuffle_matches_numpy() {
        // numpy: np.random.RandomState(113).shuffle(a := np.arange(10)); a
        assert_eq!(numpy_shuffle(10, 113), vec![9, 3, 6, 1, 0, 7, 4, 8, 2, 5]);
    }

    #[test]
    fn refuses_foreign_globals() {
        let evil = b"\x80\x02cos\nsystem\nq\x00X\x02\x00\x00\x00lsq\x01\x85q\x02Rq\x03.";
        let err = integer_lists(evil).unwrap_err();
        assert!(err.message().contains("os.system"), "{}", err.message());
        assert!(integer_lists(b"\x80\x02]").is_err());
    }
}
