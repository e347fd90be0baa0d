pub mod protection;
