pub mod checkpoint;
pub mod merkle;
