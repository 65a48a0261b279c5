pub mod demo_data;
