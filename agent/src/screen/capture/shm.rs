//! A shared-memory buffer for MIT-SHM that no other local user can read: an anonymous
//! memfd, mapped by us and handed to the X server over the socket with SHM 1.2's
//! `AttachFd`. No SysV segment exists at all, so `ipcs` shows nothing, no permission bits
//! can be wrong, and the memory is gone once both our mapping and the server's fd are, even
//! when the agent is killed with SIGKILL.
//!
//! This is why the agent does not use `scrap` on X11: scrap 0.5 creates a SysV segment with
//! mode 0777 (any local user can read the screen), leaves it behind when the process is
//! killed, and its `frame()` returns the image of the previous request.

use std::os::fd::OwnedFd;
use std::ptr::NonNull;

use rustix::fs::{MemfdFlags, SealFlags};
use rustix::mm::{MapFlags, ProtFlags};

/// A mapped memfd of a fixed size.
#[derive(Debug)]
pub(crate) struct SharedBuffer {
    ptr: NonNull<u8>,
    len: usize,
}

// The mapping is plain memory owned by this value; moving it to another thread is sound.
#[allow(unsafe_code, reason = "a raw mapping is Send when its owner is")]
// SAFETY: `SharedBuffer` owns its mapping exclusively and hands out only borrows tied to
// `&self`, so sending it to another thread cannot create shared mutable access.
unsafe impl Send for SharedBuffer {}

impl SharedBuffer {
    /// Makes a buffer of `len` bytes and returns it with the fd to send to the X server.
    pub(crate) fn new(len: usize) -> std::io::Result<(SharedBuffer, OwnedFd)> {
        let fd = rustix::fs::memfd_create(
            "hotline-screen",
            MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING,
        )?;
        rustix::fs::ftruncate(&fd, len as u64)?;
        // The size is fixed from here on: neither side can shrink it under the other's
        // mapping (a SIGBUS) or grow it.
        rustix::fs::fcntl_add_seals(&fd, SealFlags::SHRINK | SealFlags::GROW | SealFlags::SEAL)?;

        #[allow(unsafe_code, reason = "mapping the memfd we just made")]
        // SAFETY: a fresh shared mapping of our own fd, at an address the kernel picks, of
        // exactly the size the fd was given; nothing else in this process aliases it.
        let ptr = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                len,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::SHARED,
                &fd,
                0,
            )?
        };
        let ptr = NonNull::new(ptr.cast::<u8>()).ok_or(std::io::ErrorKind::OutOfMemory)?;
        Ok((SharedBuffer { ptr, len }, fd))
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The buffer's bytes. Read them only after the X server's reply to the request that
    /// filled them: until then the server may still be writing.
    pub(crate) fn bytes(&self) -> &[u8] {
        #[allow(unsafe_code, reason = "viewing our own mapping")]
        // SAFETY: `ptr` is a live mapping of `len` bytes owned by `self`; the X server
        // writes it only while serving a request, and callers read after its reply.
        unsafe {
            std::slice::from_raw_parts(self.ptr.as_ptr(), self.len)
        }
    }
}

impl Drop for SharedBuffer {
    fn drop(&mut self) {
        #[allow(unsafe_code, reason = "unmapping our own mapping")]
        // SAFETY: the mapping was made in `new` with this address and length, and no
        // borrow of it outlives `self`.
        let result = unsafe { rustix::mm::munmap(self.ptr.as_ptr().cast(), self.len) };
        if let Err(error) = result {
            tracing::warn!(%error, "unmapping the screen buffer failed");
        }
    }
}
