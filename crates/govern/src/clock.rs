//! Time for governance decisions, injectable so tests (and a skewed clock) are explicit.

use std::sync::Mutex;

use time::OffsetDateTime;

/// Where governance reads the time.
pub trait Clock: Send + Sync {
    fn now(&self) -> OffsetDateTime;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock that says what it is told (tests, clock-skew drills).
#[derive(Debug)]
pub struct FixedClock(Mutex<OffsetDateTime>);

impl FixedClock {
    pub fn new(t: OffsetDateTime) -> FixedClock {
        FixedClock(Mutex::new(t))
    }

    pub fn set(&self, t: OffsetDateTime) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = t;
    }

    pub fn advance(&self, d: time::Duration) {
        let mut g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *g += d;
    }
}

impl Clock for FixedClock {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A clock shared by everything one product instance decides with (the campaign runner, the
/// server's approval routes): one `Arc`, so a skewed clock is skewed everywhere at once.
#[derive(Clone)]
pub struct SharedClock(pub std::sync::Arc<dyn Clock>);

impl SharedClock {
    pub fn new(clock: impl Clock + 'static) -> SharedClock {
        SharedClock(std::sync::Arc::new(clock))
    }
}

impl Default for SharedClock {
    fn default() -> SharedClock {
        SharedClock::new(SystemClock)
    }
}

impl std::fmt::Debug for SharedClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SharedClock").field(&self.0.now()).finish()
    }
}

impl Clock for SharedClock {
    fn now(&self) -> OffsetDateTime {
        self.0.now()
    }
}

impl<C: Clock + ?Sized> Clock for std::sync::Arc<C> {
    fn now(&self) -> OffsetDateTime {
        (**self).now()
    }
}
