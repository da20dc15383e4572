//! shakedown-practice
