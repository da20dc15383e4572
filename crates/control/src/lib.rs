//! shakedown-control
