//! Forward's record of a row group (states, gates and dropout masks, end to end in one
//! flat tensor), and running the row groups on the engine's threads.

/// Where each piece of forward's record sits in the cache's one flat tensor.
pub(super) struct Record {
    pub b: usize,
    pub t: usize,
    pub u: usize,
    pub gu: usize,
    pub d: usize,
}

impl Record {
    /// States `h` (and LSTM's `c`) before and after every step: `(T + 1) x B x U` each.
    pub fn h(&self) -> (usize, usize) {
        (0, (self.t + 1) * self.b * self.u)
    }
    pub fn c(&self) -> (usize, usize) {
        let (o, n) = self.h();
        (o + n, (self.t + 1) * self.b * self.u)
    }
    /// Every step's gate outputs: `T x B x GU`.
    pub fn gates(&self) -> (usize, usize) {
        let (o, n) = self.c();
        (o + n, self.t * self.b * self.gu)
    }
    /// GRU's recurrent candidate part before the reset gate: `T x B x U`.
    pub fn rec_h(&self) -> (usize, usize) {
        let (o, n) = self.gates();
        (o + n, self.t * self.b * self.u)
    }
    /// LSTM's `act(c)` after every step: `T x B x U`.
    pub fn act_c(&self) -> (usize, usize) {
        let (o, n) = self.rec_h();
        (o + n, self.t * self.b * self.u)
    }
    pub fn x_mask(&self) -> (usize, usize) {
        let (o, n) = self.act_c();
        (o + n, self.b * self.d)
    }
    pub fn h_mask(&self) -> (usize, usize) {
        let (o, n) = self.x_mask();
        (o + n, self.b * self.u)
    }
    pub fn len(&self) -> usize {
        let (o, n) = self.h_mask();
        o + n
    }
}

pub(super) fn part(v: &[f32], (o, n): (usize, usize)) -> &[f32] {
    &v[o..o + n]
}

pub(super) fn part_mut(v: &mut [f32], (o, n): (usize, usize)) -> &mut [f32] {
    &mut v[o..o + n]
}

/// Each row group's first row, record layout and record, from the cache of all groups'
/// records laid end to end.
pub(super) fn group_records<'a>(
    keep: &'a [f32],
    records: &'a [(usize, Record)],
) -> impl Iterator<Item = (usize, &'a Record, &'a [f32])> {
    records.iter().scan(0, move |at, (r0, rec)| {
        let kg = &keep[*at..*at + rec.len()];
        *at += rec.len();
        Some((*r0, rec, kg))
    })
}

/// `f` on every row group's job, on the engine's threads when there are several.
pub(super) fn on_groups<J: Send, R: Send>(
    threads: usize,
    jobs: Vec<J>,
    f: impl Fn(J) -> R + Sync,
) -> Vec<R> {
    if threads > 1 && jobs.len() > 1 {
        use rayon::prelude::*;
        jobs.into_par_iter().map(&f).collect()
    } else {
        jobs.into_iter().map(f).collect()
    }
}
