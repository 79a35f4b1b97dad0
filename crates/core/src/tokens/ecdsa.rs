//! ECDSA malleability: if (r, s) verifies, so does (r, n - s), a second valid form of the same
//! token. Warden signs only the low-`s` form (s ≤ n / 2) and accepts only that form.

/// The order n of the P-256 group, big-endian.
const P256_ORDER: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

/// ⌊n / 2⌋ for P-256, big-endian: the largest low `s`.
const P256_HALF_ORDER: [u8; 32] = [
    0x7f, 0xff, 0xff, 0xff, 0x80, 0x00, 0x00, 0x00, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xde, 0x73, 0x7d, 0x56, 0xd3, 0x8b, 0xcf, 0x42, 0x79, 0xdc, 0xe5, 0x61, 0x7e, 0x31, 0x92, 0xa8,
];

/// Whether a JOSE ES256 signature (`r || s`, 32 bytes each) has the low-`s` form. Anything
/// that is not 64 bytes is not an ES256 signature.
pub(crate) fn is_low_s(signature: &[u8]) -> bool {
    // Big-endian byte strings of one length compare as the numbers they hold.
    signature.len() == 64 && signature[32..] <= P256_HALF_ORDER[..]
}

/// Rewrites a JOSE ES256 signature to its low-`s` form (s becomes n - s when above n / 2);
/// anything that is not 64 bytes is left alone.
pub(crate) fn normalize_s(signature: &mut [u8]) {
    if signature.len() != 64 || is_low_s(signature) {
        return;
    }
    let s = &mut signature[32..];
    let mut borrow = 0u16;
    for (digit, order) in s.iter_mut().zip(P256_ORDER).rev() {
        // order - digit - borrow, in base 256; s < n, so no borrow is left at the end.
        let difference = u16::from(order) + 256 - u16::from(*digit) - borrow;
        *digit = (difference & 0xff) as u8;
        borrow = u16::from(difference < 256);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_s(s: [u8; 32]) -> Vec<u8> {
        [[7u8; 32], s].concat()
    }

    #[test]
    fn half_the_order_is_the_last_low_s() {
        assert!(is_low_s(&with_s(P256_HALF_ORDER)));
        let mut above = P256_HALF_ORDER;
        above[31] += 1;
        assert!(!is_low_s(&with_s(above)));
        assert!(is_low_s(&with_s([0; 32])));
        assert!(!is_low_s(&[0; 63]));
        assert!(!is_low_s(&[0; 65]));
    }

    #[test]
    fn a_high_s_becomes_n_minus_s() {
        // n - 1 is high; its twin is 1.
        let mut n_minus_one = P256_ORDER;
        n_minus_one[31] -= 1;
        let mut signature = with_s(n_minus_one);
        normalize_s(&mut signature);
        let mut one = [0u8; 32];
        one[31] = 1;
        assert_eq!(signature, with_s(one));
        // ⌊n/2⌋ + 1 becomes ⌊n/2⌋ (n is odd), and normalizing twice changes nothing more.
        let mut above = P256_HALF_ORDER;
        above[31] += 1;
        let mut signature = with_s(above);
        normalize_s(&mut signature);
        assert_eq!(signature, with_s(P256_HALF_ORDER));
        normalize_s(&mut signature);
        assert_eq!(signature, with_s(P256_HALF_ORDER));
    }
}
