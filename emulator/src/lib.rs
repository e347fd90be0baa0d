//! Local emulator of the Microsoft Graph Backup Storage control plane and Entra.
