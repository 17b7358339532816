//! Build-time kernel compilation (see the crate README).
