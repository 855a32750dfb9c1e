//! Card data. A primary account number (PAN) is the one secret in the domain:
//! its `Debug` and `Display` show only the last four digits, so no log line,
//! error, report or `{:?}` can leak it. Only the token vault holds the mapping
//! from a token to a PAN.

use std::fmt;

/// A card number. Construct it from digits; read the digits back only through
/// [`Pan::bin`] (for routing) and [`Pan::last4`].
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Pan {
    digits: u64,
}

impl Pan {
    /// A 16-digit PAN with the given 6-digit BIN (issuer identification
    /// number) and account part; the last digit is the Luhn check digit.
    pub fn from_bin_and_account(bin: u32, account: u64) -> Pan {
        debug_assert!((100_000..1_000_000).contains(&bin));
        let body = u64::from(bin) * 1_000_000_000 + account % 1_000_000_000; // 15 digits
        Pan {
            digits: body * 10 + luhn_check_digit(body),
        }
    }

    /// The first six digits: what card networks route on.
    pub fn bin(&self) -> u32 {
        (self.digits / 10_000_000_000) as u32
    }

    pub fn last4(&self) -> u16 {
        (self.digits % 10_000) as u16
    }

    pub fn luhn_valid(&self) -> bool {
        luhn_check_digit(self.digits / 10) == self.digits % 10
    }
}

fn luhn_check_digit(body: u64) -> u64 {
    // Double every second digit from the right of the body (the check digit
    // will sit to the right of it).
    let mut sum = 0;
    let mut n = body;
    let mut double = true;
    while n > 0 {
        let mut d = n % 10;
        if double {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
        double = !double;
        n /= 10;
    }
    (10 - sum % 10) % 10
}

impl fmt::Debug for Pan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pan(****{:04})", self.last4())
    }
}

impl fmt::Display for Pan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "****{:04}", self.last4())
    }
}

/// A device-bound token standing in for a PAN (network tokenization).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Token(pub u64);

/// The secure element of one customer's phone.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct DeviceId(pub u64);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pan_is_luhn_valid_and_keeps_its_bin() {
        let pan = Pan::from_bin_and_account(411_111, 123_456_789);
        assert!(pan.luhn_valid());
        assert_eq!(pan.bin(), 411_111);
        // The well-known Visa test number 4111 1111 1111 1111.
        let test = Pan::from_bin_and_account(411_111, 111_111_111);
        assert_eq!(test.digits, 4_111_111_111_111_111);
    }

    #[test]
    fn pan_never_shows_more_than_last_four_digits() {
        let pan = Pan::from_bin_and_account(545_454, 987_654_321);
        let full = pan.digits.to_string();
        for shown in [
            format!("{pan:?}"),
            format!("{pan}"),
            format!("{:#?}", Some(pan)),
        ] {
            assert!(!shown.contains(&full), "{shown} leaks the PAN");
            assert!(!shown.contains(&full[..6]), "{shown} leaks the BIN");
            assert!(shown.contains(&full[12..]));
        }
    }
}
