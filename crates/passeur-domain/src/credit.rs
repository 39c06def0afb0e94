//! Credit rules: what the state grants at each age, and how bookings spend it.

use crate::error::{DomainError, Result};

/// One grant: at `age`, the user receives `amount_cents`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    /// Age in years at which the grant is given.
    pub age: i32,
    /// Amount, in euro cents.
    pub amount_cents: i64,
}

/// Grants by age. The default is the deck's: 20 € at 15, 30 € at 16, 30 € at 17, 300 € at 18.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreditRules {
    grants: Vec<Grant>,
}

impl Default for CreditRules {
    fn default() -> Self {
        CreditRules::new(vec![
            Grant { age: 15, amount_cents: 2_000 },
            Grant { age: 16, amount_cents: 3_000 },
            Grant { age: 17, amount_cents: 3_000 },
            Grant { age: 18, amount_cents: 30_000 },
        ])
        .expect("the default grants are valid")
    }
}

impl CreditRules {
    /// Checked rules: ages distinct and within 0..=120, amounts non-negative.
    pub fn new(mut grants: Vec<Grant>) -> Result<CreditRules> {
        grants.sort_by_key(|g| g.age);
        for pair in grants.windows(2) {
            if pair[0].age == pair[1].age {
                return Err(DomainError::InvalidCreditRules(format!("two grants at age {}", pair[0].age)));
            }
        }
        if let Some(g) = grants.iter().find(|g| g.amount_cents < 0 || !(0..=120).contains(&g.age)) {
            return Err(DomainError::InvalidCreditRules(format!(
                "grant of {} cents at age {} is out of range",
                g.amount_cents, g.age
            )));
        }
        Ok(CreditRules { grants })
    }

    /// The grants, by age.
    pub fn grants(&self) -> &[Grant] {
        &self.grants
    }

    /// The grant given on reaching `age` (0 if none).
    pub fn grant_at(&self, age: i32) -> i64 {
        self.grants.iter().find(|g| g.age == age).map_or(0, |g| g.amount_cents)
    }

    /// Everything granted up to and including `age`, for a user who joined at the youngest grant age.
    pub fn granted_up_to(&self, age: i32) -> i64 {
        self.grants.iter().filter(|g| g.age <= age).map(|g| g.amount_cents).sum()
    }
}

/// A user's remaining credit, which bookings debit and cancellations refund.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CreditAccount {
    /// Remaining credit, in cents (never negative).
    pub remaining_cents: i64,
}

impl CreditAccount {
    /// Debits a booking, or refuses it (and changes nothing) when it exceeds the remaining credit.
    pub fn debit(&mut self, user_id: &str, amount_cents: i64) -> Result<()> {
        if amount_cents < 0 {
            return Err(DomainError::field("interaction", user_id, "amount_cents", "is negative"));
        }
        if amount_cents > self.remaining_cents {
            return Err(DomainError::InsufficientCredit {
                user_id: user_id.to_owned(),
                requested_cents: amount_cents,
                remaining_cents: self.remaining_cents,
            });
        }
        self.remaining_cents -= amount_cents;
        Ok(())
    }

    /// Refunds a cancelled booking.
    pub fn refund(&mut self, amount_cents: i64) {
        self.remaining_cents += amount_cents.max(0);
    }

    /// Adds a grant.
    pub fn grant(&mut self, amount_cents: i64) {
        self.remaining_cents += amount_cents.max(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_grants_are_the_decks() {
        let r = CreditRules::default();
        assert_eq!([15, 16, 17, 18].map(|a| r.grant_at(a)), [2_000, 3_000, 3_000, 30_000]);
        assert_eq!(r.grant_at(14), 0);
        assert_eq!(r.granted_up_to(17), 8_000);
        assert_eq!(r.granted_up_to(18), 38_000);
    }

    #[test]
    fn grants_are_configurable_and_checked() {
        let r = CreditRules::new(vec![Grant { age: 18, amount_cents: 15_000 }, Grant { age: 17, amount_cents: 5_000 }])
            .unwrap();
        assert_eq!(r.granted_up_to(18), 20_000);
        assert!(
            CreditRules::new(vec![Grant { age: 18, amount_cents: 1 }, Grant { age: 18, amount_cents: 2 }]).is_err()
        );
        assert!(CreditRules::new(vec![Grant { age: 18, amount_cents: -1 }]).is_err());
    }

    #[test]
    fn a_booking_beyond_the_credit_is_refused_and_changes_nothing() {
        let mut account = CreditAccount { remaining_cents: 2_000 };
        account.debit("u1", 1_500).unwrap();
        assert_eq!(account.remaining_cents, 500);
        let err = account.debit("u1", 501).unwrap_err();
        assert_eq!(
            err,
            DomainError::InsufficientCredit { user_id: "u1".into(), requested_cents: 501, remaining_cents: 500 }
        );
        assert_eq!(account.remaining_cents, 500);
        account.debit("u1", 500).unwrap();
        assert_eq!(account.remaining_cents, 0);
        account.refund(1_500);
        assert_eq!(account.remaining_cents, 1_500);
    }
}
