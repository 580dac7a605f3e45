//! What the device reports about itself. Each platform implements [`InventorySource`]; the
//! link only sees the trait.

mod linux;
mod utmp;

use hotline_protocol::inventory::Inventory;

/// Collects the device's inventory at the moment of the call.
pub trait InventorySource: Send + Sync {
    fn collect(&self) -> Inventory;
}

/// The inventory source for the platform this agent was built for.
pub fn platform() -> Box<dyn InventorySource> {
    Box::new(linux::LinuxInventory::default())
}

/// The platform's inventory source, reading the signed-in users from the utmp file at
/// `utmp` instead of the system's (a system that keeps it elsewhere, a test's own file).
pub fn platform_with_utmp(utmp: &std::path::Path) -> Box<dyn InventorySource> {
    Box::new(linux::LinuxInventory::with_utmp(utmp))
}

/// Cuts `text` to `limit` bytes at a character boundary, so that whatever the system
/// reports stays within the protocol's limits.
fn capped(text: &str, limit: usize) -> String {
    hotline_protocol::messages::truncate(text.trim(), limit).to_owned()
}
