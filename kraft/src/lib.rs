//! kraft
