//! Write tokens for `announce_peer`: SHA-1 over the querier's IP and a secret that rotates
//! every [`ROTATE_EVERY`]; a token made with the previous secret is still accepted, so a token
//! lives between 5 and 10 minutes.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::id::sha1_digest;
use crate::rng::Rng;

/// How often the secret changes.
pub const ROTATE_EVERY: Duration = Duration::from_secs(5 * 60);
/// The length of the tokens we hand out (a truncated SHA-1).
pub const TOKEN_LEN: usize = 8;

/// The current and previous token secrets.
#[derive(Clone, Debug)]
pub struct Tokens {
    current: [u8; 20],
    previous: [u8; 20],
    next_rotation: Instant,
}

impl Tokens {
    /// Fresh secrets from `rng`; the first rotation is due at `now + ROTATE_EVERY`.
    pub fn new(now: Instant, rng: &mut Rng) -> Self {
        let mut current = [0u8; 20];
        let mut previous = [0u8; 20];
        rng.fill(&mut current);
        rng.fill(&mut previous);
        Self {
            current,
            previous,
            next_rotation: now + ROTATE_EVERY,
        }
    }

    /// When the secret changes next.
    pub fn next_rotation(&self) -> Instant {
        self.next_rotation
    }

    /// Rotates the secret if due (several times after a long pause: then both secrets are new).
    pub fn handle_timeout(&mut self, now: Instant, rng: &mut Rng) {
        let mut rotations = 0;
        while now >= self.next_rotation && rotations < 2 {
            self.previous = self.current;
            rng.fill(&mut self.current);
            self.next_rotation += ROTATE_EVERY;
            rotations += 1;
        }
        if now >= self.next_rotation {
            self.next_rotation = now + ROTATE_EVERY;
        }
    }

    /// The token to give `ip` now.
    pub fn make(&self, ip: IpAddr) -> [u8; TOKEN_LEN] {
        make_token(ip, &self.current)
    }

    /// Whether `token` was made for `ip` with the current or the previous secret.
    pub fn check(&self, ip: IpAddr, token: &[u8]) -> bool {
        token == make_token(ip, &self.current) || token == make_token(ip, &self.previous)
    }
}

fn make_token(ip: IpAddr, secret: &[u8; 20]) -> [u8; TOKEN_LEN] {
    let mut input = Vec::with_capacity(36);
    match ip {
        IpAddr::V4(v4) => input.extend_from_slice(&v4.octets()),
        IpAddr::V6(v6) => input.extend_from_slice(&v6.octets()),
    }
    input.extend_from_slice(secret);
    let digest = sha1_digest(&input);
    let mut out = [0u8; TOKEN_LEN];
    out.copy_from_slice(&digest[..TOKEN_LEN]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_lives_one_to_two_rotations() {
        let t0 = Instant::now();
        let mut rng = Rng::new(3);
        let mut tokens = Tokens::new(t0, &mut rng);
        let ip: IpAddr = "10.1.2.3".parse().unwrap();
        let other: IpAddr = "10.1.2.4".parse().unwrap();
        let tok = tokens.make(ip);
        assert!(tokens.check(ip, &tok));
        assert!(!tokens.check(other, &tok), "a token is bound to the IP");
        assert!(!tokens.check(ip, &tok[..4]));

        tokens.handle_timeout(t0 + ROTATE_EVERY - Duration::from_secs(1), &mut rng);
        assert_eq!(tokens.make(ip), tok, "no rotation before 5 minutes");
        tokens.handle_timeout(t0 + ROTATE_EVERY, &mut rng);
        assert_ne!(tokens.make(ip), tok, "rotated at 5 minutes");
        assert!(tokens.check(ip, &tok), "previous secret still accepted");
        tokens.handle_timeout(t0 + 2 * ROTATE_EVERY, &mut rng);
        assert!(!tokens.check(ip, &tok), "gone after two rotations");
        assert_eq!(tokens.next_rotation(), t0 + 3 * ROTATE_EVERY);

        // A long pause rotates both secrets and re-arms from now.
        let later = t0 + 100 * ROTATE_EVERY;
        let recent = tokens.make(ip);
        tokens.handle_timeout(later, &mut rng);
        assert!(!tokens.check(ip, &recent));
        assert_eq!(tokens.next_rotation(), later + ROTATE_EVERY);
    }

    #[test]
    fn secrets_come_from_the_seed() {
        let t0 = Instant::now();
        let ip: IpAddr = "::1".parse().unwrap();
        let a = Tokens::new(t0, &mut Rng::new(1)).make(ip);
        assert_eq!(a, Tokens::new(t0, &mut Rng::new(1)).make(ip));
        assert_ne!(a, Tokens::new(t0, &mut Rng::new(2)).make(ip));
    }
}
