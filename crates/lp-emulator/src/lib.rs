//! SKELETON: the emulator. Filled in by its implementer.
