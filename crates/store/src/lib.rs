//! shakedown-store
