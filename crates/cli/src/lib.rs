//! shakedown-cli
