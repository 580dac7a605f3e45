//! What the device reports about itself. Each platform implements [`InventorySource`]; the
//! link only sees the trait.

mod linux;

pub use linux::UTMP_VARIABLE;
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

/// Cuts `text` to `limit` bytes at a character boundary, so that whatever the system
/// reports stays within the protocol's limits.
fn capped(text: &str, limit: usize) -> String {
    hotline_protocol::messages::truncate(text.trim(), limit).to_owned()
}
