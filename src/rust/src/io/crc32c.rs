//! CRC-32C (Castagnoli) and the TFRecord CRC mask, std only.
//!
//! CRC-32C uses the reflected polynomial `0x82F63B78`, initial value `0xFFFFFFFF` and final XOR
//! `0xFFFFFFFF` (the iSCSI / SSE4.2 `crc32` CRC); its check value is
//! `crc32c(b"123456789") == 0xE3069283`. TFRecord files store *masked* CRCs:
//! `((crc >> 15) | (crc << 17)).wrapping_add(0xa282ead8)`, i.e. rotate right by 15, then add.

const POLY: u32 = 0x82F6_3B78;
const MASK_DELTA: u32 = 0xA282_EAD8;

/// Byte-wise lookup table, built at compile time.
static TABLE: [u32; 256] = make_table();

const fn make_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { (c >> 1) ^ POLY } else { c >> 1 };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
}

/// CRC-32C of `data`.
pub fn crc32c(data: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in data {
        c = TABLE[((c ^ b as u32) & 0xFF) as usize] ^ (c >> 8);
    }
    !c
}

/// TFRecord mask of a CRC: rotate right by 15 bits, then wrapping add `0xa282ead8`.
pub fn mask(crc: u32) -> u32 {
    crc.rotate_right(15).wrapping_add(MASK_DELTA)
}

/// `mask(crc32c(data))`, the value stored in TFRecord files.
pub fn masked_crc32c(data: &[u8]) -> u32 {
    mask(crc32c(data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_value() {
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(crc32c(b""), 0);
        // RFC 3720 B.4 test vectors.
        assert_eq!(crc32c(&[0u8; 32]), 0x8A91_36AA);
        assert_eq!(crc32c(&[0xFFu8; 32]), 0x62A8_AB43);
    }

    #[test]
    #[allow(clippy::manual_rotate)] // spelled out on purpose: it is the spec's formula
    fn masked_values_from_spec() {
        // Length prefix 52 (u64 LE) of the spec's worked example record.
        let len = 52u64.to_le_bytes();
        assert_eq!(crc32c(&len), 0x2443_5cca);
        assert_eq!(masked_crc32c(&len), 0x5c17_335e);
        assert_eq!(mask(0x12b7_7129), 0x84d5_1046);
        let c = 0x12b7_7129u32;
        assert_eq!(mask(c), ((c >> 15) | (c << 17)).wrapping_add(0xa282_ead8));
        // File-version record length 24: stored bytes a3 7f 4b 22.
        assert_eq!(masked_crc32c(&24u64.to_le_bytes()), 0x224b_7fa3);
    }
}
