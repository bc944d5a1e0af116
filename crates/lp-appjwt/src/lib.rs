//! SKELETON: the facade. Filled in by its implementer.
