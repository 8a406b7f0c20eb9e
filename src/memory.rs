//! Global buffers, the buffer table, and block-local shared memory.
//!
//! # Soundness scheme for global memory
//!
//! Lanes on different threads may touch the same bytes of a buffer at the
//! same time, and the language only promises unspecified values for conflicting
//! non-atomic accesses. In Rust any data race on plain memory is undefined
//! behaviour, so every byte of a [`Buffer`] lives inside an [`AtomicU64`]
//! word and **every access, from lanes or from the host, is an atomic
//! operation on whole 8-byte words**:
//!
//! - a load of 1, 2, 4 or 8 bytes is one relaxed atomic load of the word that
//!   contains it (an aligned access never straddles two words), then a shift;
//! - an 8-byte store is one relaxed atomic store; a narrower store is a
//!   compare-and-swap loop on its word that replaces only its own bytes, so
//!   lanes writing neighbouring elements never lose each other's writes;
//! - atomics (`atom`) are compare-and-swap loops (or native fetch operations)
//!   on the word.
//!
//! All atomic accesses to a word have the same size (8 bytes), so there is no
//! mixed-size atomic access, which Rust's memory model does not define.
//! Relaxed ordering is enough inside a launch (a barrier or the end of a
//! launch orders everything through the scheduler's own synchronization);
//! bytes are little-endian within a word, so the buffer reads back as the
//! same bytes that were written.
//!
//! # Frozen buffers
//!
//! Atomic loads cannot be vectorized, and copying a run of elements into a
//! register vector one relaxed 8-byte load at a time was the block engine's
//! largest cost in element-wise kernels. But a buffer that nothing writes
//! can be read with plain loads: reads never race with reads. So each buffer
//! has a small gate (a mutex, taken once per launch, never per access):
//!
//! - a **writer** ([`Buffer::begin_write`]) is every launch whose kernel
//!   stores to or atomically updates the buffer through any parameter bound
//!   to it (registered for the whole launch, by every engine), and every host
//!   write ([`Buffer::write`]); a writer waits while the buffer is frozen;
//! - a launch that only reads the buffer may **freeze** it
//!   ([`Buffer::try_freeze`]) if no writer is registered or waiting, and
//!   then copy runs with plain loads ([`Frozen::load_run32`]) until it ends.
//!   Freezing never waits: when it is refused, the launch reads atomically
//!   as before.
//!
//! The write methods of [`ByteMemory`] are crate-private, so no code can
//! write a buffer's words without being one of those writers. One
//! `unsafe` views a frozen buffer's words as plain `u64`s; the others are
//! the words' storage (see "External memory").
//! Observable behaviour: a host write to a buffer that a running launch only
//! reads waits for that launch to end (as do launches that write it).
//!
//! # Generated code
//!
//! The JIT's machine code reaches buffer words through their address, with
//! plain aligned loads and stores of 1 to 8 bytes (16-byte vector accesses
//! for runs of 4-byte and 8-byte elements) and atomics with the machine's
//! read-modify-write instructions on the element, each after its own
//! bounds and alignment check; its launches register as writers of every
//! buffer they may write, like the interpreters'. Why that keeps this
//! scheme sound is in the module docs of `crate::engine::jit` ("Generated
//! code and memory").
//!
//! # External memory
//!
//! A buffer's words are usually allocated here, but an embedding program
//! may lend memory it owns instead ([`Buffer::from_external`]): the Python
//! package runs kernels on NumPy arrays in place this way. The memory must
//! start at a multiple of 8 bytes and hold whole words (checked), and the
//! lender promises (the `unsafe` contract) that nothing else touches it
//! while the buffer lives, so every access is still one of the atomic or
//! frozen accesses above. Either way the words are kept as a raw pointer
//! and a length ([`Words`]), never as a `Box` that a raw pointer aliases.
//!
//! Shared memory belongs to one block, which one thread runs at a time, so
//! [`SharedMemory`] is plain memory with the same checked interface.

use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::{Condvar, Mutex};
use rustc_hash::FxHashMap;

/// A checked access that failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccessError {
    /// Some byte of the access lies outside the memory. `offset` is exact
    /// (it may be negative or beyond `u64` when a displacement overflowed).
    OutOfBounds {
        /// First byte of the access.
        offset: i128,
        /// Access size in bytes.
        size: usize,
        /// Length of the memory in bytes.
        len: usize,
    },
    /// The offset is not a multiple of the access size.
    Misaligned {
        /// First byte of the access.
        offset: u64,
        /// Access size in bytes.
        size: usize,
    },
}

/// Checks that `size` bytes at `offset` lie inside `len` bytes and are
/// aligned; returns the offset as an index.
#[inline(always)]
pub fn check_access(offset: u64, size: usize, len: usize) -> Result<usize, AccessError> {
    if offset > len as u64 || (len as u64 - offset) < size as u64 {
        return Err(AccessError::OutOfBounds {
            offset: offset as i128,
            size,
            len,
        });
    }
    // Sizes are powers of two: a mask, not a division.
    if offset & (size as u64 - 1) != 0 {
        return Err(AccessError::Misaligned { offset, size });
    }
    Ok(offset as usize)
}

/// The low `size` bytes of a word at byte position `shift_bytes`.
#[inline(always)]
fn lane_mask(size: usize) -> u64 {
    if size >= 8 {
        u64::MAX
    } else {
        (1u64 << (size * 8)) - 1
    }
}

/// Memory that lanes load from and store to, with checked offsets.
///
/// `offset` arguments of the `*_at` methods must come from [`check_access`]
/// against [`ByteMemory::len`] (the methods still never touch memory outside
/// the buffer: Rust's slice indexing checks again).
pub(crate) trait ByteMemory {
    /// Length in bytes.
    fn len(&self) -> usize;
    /// Loads `size` bytes (1, 2, 4 or 8) at an aligned `offset`,
    /// zero-extended.
    fn load_at(&self, offset: usize, size: usize) -> u64;
    /// Stores the low `size` bytes of `bits` at an aligned `offset`.
    fn store_at(&self, offset: usize, size: usize, bits: u64);
    /// Atomically replaces the `size` bytes at `offset` with `f(old)` and
    /// returns `old` (both zero-extended raw bits).
    fn update_at(&self, offset: usize, size: usize, f: &mut dyn FnMut(u64) -> u64) -> u64;

    /// Loads `out.len()` consecutive elements of `size` bytes starting at
    /// the aligned, in-bounds `offset`; element `i` becomes
    /// `out[i] = convert(bits)`.
    #[inline(always)]
    fn load_run(&self, offset: usize, size: usize, out: &mut [u64], convert: impl Fn(u64) -> u64)
    where
        Self: Sized,
    {
        for (i, o) in out.iter_mut().enumerate() {
            *o = convert(self.load_at(offset + i * size, size));
        }
    }

    /// Stores `values.len()` consecutive elements of `size` bytes (the low
    /// bytes of each value) starting at the aligned, in-bounds `offset`.
    #[inline(always)]
    fn store_run(&self, offset: usize, size: usize, values: &[u64])
    where
        Self: Sized,
    {
        for (i, &v) in values.iter().enumerate() {
            self.store_at(offset + i * size, size, v);
        }
    }

    /// Loads `out.len()` consecutive 4-byte elements starting at the
    /// aligned, in-bounds `offset` (the engine's 32-bit register vectors).
    #[inline(always)]
    fn load_run32(&self, offset: usize, out: &mut [u32])
    where
        Self: Sized,
    {
        for (i, o) in out.iter_mut().enumerate() {
            *o = self.load_at(offset + i * 4, 4) as u32;
        }
    }

    /// Stores `values` as consecutive 4-byte elements starting at the
    /// aligned, in-bounds `offset`.
    #[inline(always)]
    fn store_run32(&self, offset: usize, values: &[u32])
    where
        Self: Sized,
    {
        for (i, &v) in values.iter().enumerate() {
            self.store_at(offset + i * 4, 4, v as u64);
        }
    }

    /// Checked load.
    #[cfg(test)]
    fn load(&self, offset: u64, size: usize) -> Result<u64, AccessError> {
        let at = check_access(offset, size, self.len())?;
        Ok(self.load_at(at, size))
    }
    /// Checked store.
    #[cfg(test)]
    fn store(&self, offset: u64, size: usize, bits: u64) -> Result<(), AccessError> {
        let at = check_access(offset, size, self.len())?;
        self.store_at(at, size, bits);
        Ok(())
    }
}

/// Error from the host-side buffer API.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MemoryError {
    /// The allocation could not be made.
    #[error("cannot allocate a buffer of {bytes} bytes")]
    Allocation {
        /// Requested size.
        bytes: usize,
    },
    /// No buffer has this id (never created, or freed).
    #[error("no buffer {0} (never created, or already freed)")]
    UnknownBuffer(BufferId),
    /// A host read or write outside the buffer.
    #[error("host access of {size} bytes at offset {offset} is outside buffer {id} of {len} bytes")]
    OutOfRange {
        /// The buffer.
        id: BufferId,
        /// First byte.
        offset: usize,
        /// Bytes accessed.
        size: usize,
        /// Buffer length.
        len: usize,
    },
    /// A typed host read or write ([`crate::Buffer`]) outside the buffer.
    #[error(
        "host access of {count} {ty} element(s) from element {start} is outside buffer {id} of {len} elements"
    )]
    ElementRange {
        /// The buffer.
        id: BufferId,
        /// Its element type.
        ty: crate::types::ScalarType,
        /// First element.
        start: usize,
        /// Elements accessed.
        count: usize,
        /// Buffer length in elements.
        len: usize,
    },
    /// Memory lent by the caller ([`Buffer::from_external`]) that cannot
    /// hold a buffer's words in place.
    #[error(
        "memory at {addr:#x} of {bytes} bytes cannot be used in place: it must start at a multiple of 8 bytes and hold a whole number of 8-byte words"
    )]
    ExternalLayout {
        /// Its address.
        addr: usize,
        /// Its length in bytes.
        bytes: usize,
    },
}

/// A global buffer: bytes stored in atomic 8-byte words (see the module docs).
#[derive(Debug)]
pub struct Buffer {
    words: Words,
    len: usize,
    gate: Gate,
}

/// Buffers at least this long (bytes) ask for transparent huge pages.
pub const HUGE_PAGE_MIN: usize = 4 << 20;

/// Asks Linux to back `words` with transparent huge pages when it is at
/// least [`HUGE_PAGE_MIN`] bytes long (advice: contents and validity do
/// not change, and a refusal, as when huge pages are off, is harmless).
#[cfg(all(target_os = "linux", not(miri)))]
fn advise_huge_pages(words: &[AtomicU64]) {
    const PAGE: usize = 4096;
    let bytes = std::mem::size_of_val(words);
    if bytes < HUGE_PAGE_MIN {
        return;
    }
    let start = words.as_ptr() as usize;
    // madvise wants a page-aligned start: the first whole page inside.
    let first = start.next_multiple_of(PAGE);
    let len = start + bytes - first;
    // SAFETY: `first..first + len` lies inside `words`, memory this
    // process owns and keeps mapped while the call runs; MADV_HUGEPAGE is
    // advice about how to back the range, which keeps its contents (zero
    // pages stay zero) and its validity.
    unsafe {
        libc::madvise(first as *mut libc::c_void, len, libc::MADV_HUGEPAGE);
    }
}

/// Elsewhere (and under Miri, which cannot call the OS) buffers take the
/// allocator's pages as they come.
#[cfg(not(all(target_os = "linux", not(miri))))]
fn advise_huge_pages(_words: &[AtomicU64]) {}

/// A buffer's words: a pointer and a length, with whoever owns the memory.
/// Derefs to the words as a slice.
struct Words {
    ptr: NonNull<AtomicU64>,
    count: usize,
    owner: Owner,
}

/// Who frees a buffer's words.
enum Owner {
    /// Allocated here (a leaked `Box<[AtomicU64]>`), freed on drop.
    Allocated,
    /// Lent by the caller of [`Buffer::from_external`]; dropped (after the
    /// words are no longer used) to let the lender know.
    External(#[allow(dead_code, reason = "held only to be dropped last")] Box<dyn Send + Sync>),
}

impl Words {
    /// Takes over a zeroed allocation.
    fn allocated(words: Box<[AtomicU64]>) -> Words {
        let count = words.len();
        let ptr = NonNull::from(Box::leak(words)).cast::<AtomicU64>();
        Words {
            ptr,
            count,
            owner: Owner::Allocated,
        }
    }
}

impl std::ops::Deref for Words {
    type Target = [AtomicU64];

    #[inline(always)]
    fn deref(&self) -> &[AtomicU64] {
        // SAFETY: `ptr` points to `count` initialized, aligned words that
        // live as long as `self`: a leaked box that only `Drop` frees, or
        // memory lent under the contract of `Buffer::from_external`. Only
        // shared references are ever made, and `AtomicU64` allows writes
        // through them.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.count) }
    }
}

impl Drop for Words {
    fn drop(&mut self) {
        if let Owner::Allocated = self.owner {
            let words = std::ptr::slice_from_raw_parts_mut(self.ptr.as_ptr(), self.count);
            // SAFETY: made by `Box::leak` in `Words::allocated` with this
            // pointer and length, and freed only here, once.
            drop(unsafe { Box::from_raw(words) });
        }
        // External memory: dropping `owner` (a field, after this body)
        // hands it back.
    }
}

// SAFETY: `Words` is a `&[AtomicU64]` that owns or keeps alive its memory;
// atomics may be shared and sent between threads, and the external owner
// is `Send + Sync` itself.
unsafe impl Send for Words {}
// SAFETY: as above.
unsafe impl Sync for Words {}

impl std::fmt::Debug for Words {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.owner {
            Owner::Allocated => "allocated",
            Owner::External(_) => "external",
        };
        write!(f, "Words({} {kind})", self.count)
    }
}

/// Who may touch a buffer with plain reads (see "Frozen buffers" in the
/// module docs).
#[derive(Debug, Default)]
struct Gate {
    state: Mutex<GateState>,
    /// Signalled when the last frozen reader leaves.
    thawed: Condvar,
}

#[derive(Debug, Default)]
struct GateState {
    /// Live [`Frozen`] guards.
    frozen: usize,
    /// Live [`Writing`] guards.
    writers: usize,
    /// Writers waiting for the frozen readers to leave; while any wait, no
    /// new reader may freeze (so writers cannot starve).
    waiting: usize,
}

/// Proof that nothing writes a buffer while this guard lives: lets a launch
/// that only reads the buffer copy it with plain (vectorizable) loads. See
/// [`Buffer::try_freeze`].
#[derive(Debug)]
pub struct Frozen<'a> {
    buf: &'a Buffer,
}

/// A registered writer of a buffer: while it lives, the buffer cannot be
/// frozen. See [`Buffer::begin_write`].
#[derive(Debug)]
pub struct Writing<'a> {
    buf: &'a Buffer,
}

impl Drop for Frozen<'_> {
    fn drop(&mut self) {
        let mut st = self.buf.gate.state.lock();
        st.frozen -= 1;
        if st.frozen == 0 && st.waiting > 0 {
            self.buf.gate.thawed.notify_all();
        }
    }
}

impl Drop for Writing<'_> {
    fn drop(&mut self) {
        self.buf.gate.state.lock().writers -= 1;
    }
}

impl Frozen<'_> {
    /// [`ByteMemory::load_run32`] with plain loads: whole words are copied
    /// with `copy_from_slice` (a vectorized memcpy).
    pub fn load_run32(&self, offset: usize, out: &mut [u32]) {
        self.buf.load_run32_with(offset, out, |pairs, words| {
            pairs.copy_from_slice(plain(words))
        });
    }
}

impl<'a> Frozen<'a> {
    /// The buffer's 4-byte elements as plain `u32`s (element `i` at byte
    /// `4 * i`), on little-endian targets (where a word's low half comes
    /// first in memory); `None` elsewhere.
    pub fn elements32(&self) -> Option<&'a [u32]> {
        cfg!(target_endian = "little").then(|| bytemuck::cast_slice(plain(&self.buf.words)))
    }
}

/// The words of a frozen buffer as plain `u64`s.
fn plain(words: &[AtomicU64]) -> &[u64] {
    // SAFETY: `AtomicU64` has the same size, alignment and bit validity as
    // `u64` (its documentation guarantees it), so the slice covers the same
    // initialized memory. Only called through a live `Frozen` guard: while
    // one lives, the gate admits no writer (`begin_write` waits for frozen
    // readers to leave, `try_freeze` refuses while a writer is registered),
    // and every write to a buffer's words goes through a writer: host writes
    // (`Buffer::write`) register themselves, engines register the buffers
    // their kernel writes for the whole launch, and the write methods of
    // `ByteMemory` are crate-private. So these plain reads can only overlap
    // other reads, atomic or plain, which is not a data race.
    unsafe { std::slice::from_raw_parts(words.as_ptr().cast::<u64>(), words.len()) }
}

impl Buffer {
    /// The address of the buffer's first byte, for the JIT's generated code
    /// (see "Generated code" in `crate::engine::jit`). Every word is an
    /// `AtomicU64`, whose contents may be changed through a shared
    /// reference, so code holding this pointer may load and store them.
    pub(crate) fn base_ptr(&self) -> *mut u8 {
        self.words.as_ptr().cast_mut().cast()
    }

    /// A zeroed buffer of `len` bytes. Fails cleanly, without aborting, when
    /// the memory cannot be had.
    ///
    /// The memory comes from the allocator's zeroed allocation (`calloc`):
    /// large buffers get fresh pages from the OS that are zero already, so
    /// pages nothing touches cost no memory (`zeros:u8:6000000000` with a
    /// kernel that writes a few bytes stays small). On Linux, buffers of at
    /// least [`HUGE_PAGE_MIN`] bytes ask for transparent huge pages (fewer
    /// TLB misses when kernels stream through them: vector_add over 16M
    /// elements about 10% faster); a touched page then costs 2 MiB.
    pub fn zeroed(len: usize) -> Result<Buffer, MemoryError> {
        let n = len.div_ceil(8);
        let words = bytemuck::allocation::try_zeroed_slice_box::<AtomicU64>(n)
            .map_err(|()| MemoryError::Allocation { bytes: len })?;
        advise_huge_pages(&words);
        Ok(Buffer {
            words: Words::allocated(words),
            len,
            gate: Gate::default(),
        })
    }

    /// A buffer over `len` bytes of memory the caller owns, used in place:
    /// launches read and write that memory itself, with no copy in or out.
    /// `owner` is dropped when the buffer is, after its last use of the
    /// memory (keep what owns the memory alive in it).
    ///
    /// `ptr` must be a multiple of 8 and `len` of 8 (whole words, so that
    /// no access reaches past the memory); otherwise this is a
    /// [`MemoryError::ExternalLayout`] and the caller should copy instead.
    ///
    /// # Safety
    ///
    /// Until the returned buffer (and every `Arc` of it) is dropped:
    /// - `ptr..ptr + len` must be valid for reads and writes and stay
    ///   allocated (`owner` may guarantee that);
    /// - nothing but this buffer may read or write that memory: not the
    ///   caller, not another thread, not another `Buffer` made over an
    ///   overlapping range. Launches read it with plain loads while they
    ///   hold it frozen (see the module docs) and write it with atomics, so
    ///   any other access could be a data race.
    ///
    /// ```
    /// use std::ptr::NonNull;
    /// use lanes::memory::Buffer;
    ///
    /// let mut words = vec![0u64; 2];
    /// let ptr = NonNull::new(words.as_mut_ptr().cast::<u8>()).unwrap();
    /// // SAFETY: `words` outlives the buffer and is not used meanwhile.
    /// let b = unsafe { Buffer::from_external(ptr, 16, Box::new(())) }?;
    /// b.write(8, &[1, 2]).unwrap();
    /// assert_eq!(b.load(8, 2), Ok(0x0201));
    /// drop(b);
    /// assert_eq!(words[1], 0x0201);
    /// # Ok::<(), lanes::memory::MemoryError>(())
    /// ```
    pub unsafe fn from_external(
        ptr: NonNull<u8>,
        len: usize,
        owner: Box<dyn Send + Sync>,
    ) -> Result<Buffer, MemoryError> {
        let addr = ptr.as_ptr() as usize;
        if addr % std::mem::align_of::<AtomicU64>() != 0 || len % 8 != 0 {
            return Err(MemoryError::ExternalLayout { addr, bytes: len });
        }
        Ok(Buffer {
            words: Words {
                ptr: ptr.cast::<AtomicU64>(),
                count: len / 8,
                owner: Owner::External(owner),
            },
            len,
            gate: Gate::default(),
        })
    }

    /// A buffer holding a copy of `bytes`.
    pub fn from_bytes(bytes: &[u8]) -> Result<Buffer, MemoryError> {
        let b = Buffer::zeroed(bytes.len())?;
        b.write_bytes(0, bytes);
        Ok(b)
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the buffer has no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// `load_run32`'s shape: an element in the upper half of a word first,
    /// then whole words (two elements each), then a last lower half. On
    /// little-endian targets element `2i` is the low half of word `i`, in
    /// memory and in `out` alike, so `copy_words(out_words, words)` moves
    /// whole words; elsewhere they are split one by one.
    #[inline(always)]
    fn load_run32_with(
        &self,
        offset: usize,
        out: &mut [u32],
        copy_words: impl FnOnce(&mut [u64], &[AtomicU64]),
    ) {
        let count = out.len();
        let head = if offset % 8 == 4 { 1.min(count) } else { 0 };
        let (head_out, rest) = out.split_at_mut(head);
        if let Some(h) = head_out.first_mut() {
            *h = self.load_at(offset, 4) as u32;
        }
        let first = (offset + head * 4) / 8;
        let whole = rest.len() / 2;
        let (body, tail) = rest.split_at_mut(whole * 2);
        let words = &self.words[first..first + whole];
        match bytemuck::try_cast_slice_mut::<u32, u64>(body) {
            Ok(pairs) if cfg!(target_endian = "little") => copy_words(pairs, words),
            _ => {
                for (pair, w) in body.chunks_exact_mut(2).zip(words) {
                    let v = w.load(Ordering::Relaxed);
                    pair[0] = v as u32;
                    pair[1] = (v >> 32) as u32;
                }
            }
        }
        if let Some(last) = tail.first_mut() {
            *last = self.load_at(offset + (count - 1) * 4, 4) as u32;
        }
    }

    /// Reads `size` bytes (1, 2, 4 or 8) at `offset`, zero-extended: a
    /// checked, atomic read of one element.
    pub fn load(&self, offset: u64, size: usize) -> Result<u64, AccessError> {
        let at = check_access(offset, size, self.len)?;
        Ok(self.load_at(at, size))
    }

    /// Freezes the buffer against writes for as long as the guard lives, if
    /// no writer is registered or waiting; `None` otherwise (the caller then
    /// reads atomically, as always). Never waits.
    pub fn try_freeze(&self) -> Option<Frozen<'_>> {
        let mut st = self.gate.state.lock();
        if st.writers > 0 || st.waiting > 0 {
            return None;
        }
        st.frozen += 1;
        Some(Frozen { buf: self })
    }

    /// Registers a writer for as long as the guard lives, first waiting
    /// until no [`Frozen`] guard is left. A thread must not hold a `Frozen`
    /// guard of this buffer while it calls this (it would wait for itself).
    pub fn begin_write(&self) -> Writing<'_> {
        let mut st = self.gate.state.lock();
        if st.frozen > 0 {
            st.waiting += 1;
            while st.frozen > 0 {
                self.gate.thawed.wait(&mut st);
            }
            st.waiting -= 1;
        }
        st.writers += 1;
        Writing { buf: self }
    }

    /// Copies bytes in from `offset`; the caller has checked the range.
    /// Whole words are stored at once; only the bytes sharing a word with
    /// bytes outside the range go one by one (compare-and-swap).
    fn write_bytes(&self, offset: usize, bytes: &[u8]) {
        let head = ((8 - offset % 8) % 8).min(bytes.len());
        for (i, &byte) in bytes[..head].iter().enumerate() {
            self.store_at(offset + i, 1, byte as u64);
        }
        let body = &bytes[head..];
        let first = (offset + head) / 8;
        let words = body.chunks_exact(8);
        let tail = words.remainder();
        let whole = body.len() / 8;
        for (w, chunk) in self.words[first..first + whole].iter().zip(words) {
            let bytes: [u8; 8] = chunk.try_into().expect("chunks of 8");
            w.store(u64::from_le_bytes(bytes), Ordering::Relaxed);
        }
        let tail_at = offset + head + whole * 8;
        for (i, &byte) in tail.iter().enumerate() {
            self.store_at(tail_at + i, 1, byte as u64);
        }
    }

    /// Copies the whole buffer out.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len);
        for w in self.words.iter() {
            out.extend_from_slice(&w.load(Ordering::Relaxed).to_le_bytes());
        }
        out.truncate(self.len);
        out
    }

    /// Copies `out.len()` bytes from `offset` into `out`, with no buffer in
    /// between (the typed API reads into a caller's slice through this).
    /// `Err((offset, size))` when the range is not inside the buffer.
    pub fn read_into(&self, offset: usize, out: &mut [u8]) -> Result<(), (usize, usize)> {
        match offset.checked_add(out.len()) {
            Some(end) if end <= self.len => {}
            _ => return Err((offset, out.len())),
        }
        // Bytes that share a word with bytes before `offset` go one by one,
        // then whole words, then the bytes of a last partial word.
        let total = out.len();
        let head = ((8 - offset % 8) % 8).min(total);
        let (head_out, rest) = out.split_at_mut(head);
        for (i, o) in head_out.iter_mut().enumerate() {
            *o = self.load_at(offset + i, 1) as u8;
        }
        let first = (offset + head) / 8;
        let mut chunks = rest.chunks_exact_mut(8);
        for (chunk, w) in (&mut chunks).zip(&self.words[first..]) {
            chunk.copy_from_slice(&w.load(Ordering::Relaxed).to_le_bytes());
        }
        let tail = chunks.into_remainder();
        let tail_at = offset + total - tail.len();
        for (i, o) in tail.iter_mut().enumerate() {
            *o = self.load_at(tail_at + i, 1) as u8;
        }
        Ok(())
    }

    /// Copies `bytes` into the buffer at `offset`. Waits while a launch
    /// that only reads the buffer has it frozen.
    pub fn write(&self, offset: usize, bytes: &[u8]) -> Result<(), (usize, usize)> {
        match offset.checked_add(bytes.len()) {
            Some(end) if end <= self.len => {
                let _writing = self.begin_write();
                self.write_bytes(offset, bytes);
                Ok(())
            }
            _ => Err((offset, bytes.len())),
        }
    }
}

impl ByteMemory for Buffer {
    fn len(&self) -> usize {
        self.len
    }

    #[inline(always)]
    fn load_at(&self, offset: usize, size: usize) -> u64 {
        let word = self.words[offset / 8].load(Ordering::Relaxed);
        (word >> ((offset % 8) * 8)) & lane_mask(size)
    }

    #[inline(always)]
    fn load_run(&self, offset: usize, size: usize, out: &mut [u64], convert: impl Fn(u64) -> u64) {
        // Elements before the first whole word and after the last one go one
        // by one; in between, one atomic load serves every element of a word.
        let per_word = 8 / size;
        let mask = lane_mask(size);
        let head = ((8 - offset % 8) % 8 / size).min(out.len());
        let (head_out, rest) = out.split_at_mut(head);
        for (i, o) in head_out.iter_mut().enumerate() {
            *o = convert(self.load_at(offset + i * size, size));
        }
        let first = (offset + head * size) / 8;
        let whole = rest.len() / per_word;
        let (body, tail) = rest.split_at_mut(whole * per_word);
        for (chunk, word) in body
            .chunks_exact_mut(per_word)
            .zip(&self.words[first..first + whole])
        {
            let v = word.load(Ordering::Relaxed);
            for (k, o) in chunk.iter_mut().enumerate() {
                *o = convert((v >> (k * size * 8)) & mask);
            }
        }
        let tail_at = offset + (head + whole * per_word) * size;
        for (i, o) in tail.iter_mut().enumerate() {
            *o = convert(self.load_at(tail_at + i * size, size));
        }
    }

    #[inline(always)]
    fn store_at(&self, offset: usize, size: usize, bits: u64) {
        let w = &self.words[offset / 8];
        if size == 8 {
            w.store(bits, Ordering::Relaxed);
            return;
        }
        let shift = (offset % 8) * 8;
        let mask = lane_mask(size) << shift;
        let value = (bits << shift) & mask;
        let mut old = w.load(Ordering::Relaxed);
        loop {
            match w.compare_exchange_weak(
                old,
                (old & !mask) | value,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(now) => old = now,
            }
        }
    }

    #[inline(always)]
    fn store_run(&self, offset: usize, size: usize, values: &[u64]) {
        // Elements that share a word with bytes outside the run go through
        // the element store (compare-and-swap); whole words inside the run
        // are assembled from their elements and written with one store.
        let per_word = 8 / size;
        let mask = lane_mask(size);
        let head = ((8 - offset % 8) % 8 / size).min(values.len());
        for (i, &v) in values[..head].iter().enumerate() {
            self.store_at(offset + i * size, size, v);
        }
        let rest = &values[head..];
        let first = (offset + head * size) / 8;
        let whole = rest.len() / per_word;
        for (chunk, word) in rest
            .chunks_exact(per_word)
            .zip(&self.words[first..first + whole])
        {
            let mut v = 0u64;
            for (k, &x) in chunk.iter().enumerate() {
                v |= (x & mask) << (k * size * 8);
            }
            word.store(v, Ordering::Relaxed);
        }
        let tail_at = offset + (head + whole * per_word) * size;
        for (i, &v) in rest[whole * per_word..].iter().enumerate() {
            self.store_at(tail_at + i * size, size, v);
        }
    }

    #[inline(always)]
    fn load_run32(&self, offset: usize, out: &mut [u32]) {
        self.load_run32_with(offset, out, |pairs, words| {
            for (o, w) in pairs.iter_mut().zip(words) {
                *o = w.load(Ordering::Relaxed);
            }
        });
    }

    #[inline(always)]
    fn store_run32(&self, offset: usize, values: &[u32]) {
        // Half-words at either end share their word with bytes outside the
        // run (compare-and-swap); whole words are written in one store.
        let head = if offset % 8 == 4 {
            1.min(values.len())
        } else {
            0
        };
        if head == 1 {
            self.store_at(offset, 4, values[0] as u64);
        }
        let first = (offset + head * 4) / 8;
        let rest = &values[head..];
        let whole = rest.len() / 2;
        let (body, tail) = rest.split_at(whole * 2);
        let words = &self.words[first..first + whole];
        match bytemuck::try_cast_slice::<u32, u64>(body) {
            Ok(pairs) if cfg!(target_endian = "little") => {
                for (&v, w) in pairs.iter().zip(words) {
                    w.store(v, Ordering::Relaxed);
                }
            }
            _ => {
                for (pair, w) in body.chunks_exact(2).zip(words) {
                    w.store(pair[0] as u64 | (pair[1] as u64) << 32, Ordering::Relaxed);
                }
            }
        }
        if let [last] = tail {
            self.store_at(offset + (values.len() - 1) * 4, 4, *last as u64);
        }
    }

    fn update_at(&self, offset: usize, size: usize, f: &mut dyn FnMut(u64) -> u64) -> u64 {
        let w = &self.words[offset / 8];
        let shift = (offset % 8) * 8;
        let mask = lane_mask(size);
        let mut old_word = w.load(Ordering::Relaxed);
        loop {
            let old = (old_word >> shift) & mask;
            let new = f(old) & mask;
            let new_word = (old_word & !(mask << shift)) | (new << shift);
            match w.compare_exchange_weak(old_word, new_word, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return old,
                Err(now) => old_word = now,
            }
        }
    }
}

/// A block's shared memory, owned by the thread running the block: plain
/// 8-byte words in [`Cell`](std::cell::Cell)s (one thread, so no atomics and
/// no borrow flags), little-endian within a word like [`Buffer`].
#[derive(Debug, Default)]
pub struct SharedMemory {
    words: Vec<std::cell::Cell<u64>>,
    len: usize,
}

impl SharedMemory {
    /// The address of the first byte, for the JIT's generated code: every
    /// word is a `Cell`, whose contents may be changed through a shared
    /// reference. Valid until the next [`SharedMemory::reset`].
    pub(crate) fn base_ptr(&self) -> *mut u8 {
        self.words.as_ptr().cast_mut().cast()
    }

    /// Makes the memory `len` zeroed bytes, reusing the allocation.
    pub fn reset(&mut self, len: usize) {
        self.words.clear();
        self.words.resize(len.div_ceil(8), std::cell::Cell::new(0));
        self.len = len;
    }
}

impl ByteMemory for SharedMemory {
    fn len(&self) -> usize {
        self.len
    }

    #[inline(always)]
    fn load_at(&self, offset: usize, size: usize) -> u64 {
        (self.words[offset / 8].get() >> ((offset % 8) * 8)) & lane_mask(size)
    }

    #[inline(always)]
    fn store_at(&self, offset: usize, size: usize, bits: u64) {
        let w = &self.words[offset / 8];
        let shift = (offset % 8) * 8;
        let mask = lane_mask(size) << shift;
        w.set((w.get() & !mask) | ((bits << shift) & mask));
    }

    fn update_at(&self, offset: usize, size: usize, f: &mut dyn FnMut(u64) -> u64) -> u64 {
        let old = self.load_at(offset, size);
        self.store_at(offset, size, f(old));
        old
    }
}

/// Names a buffer in a [`BufferTable`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BufferId(pub u64);

impl std::fmt::Display for BufferId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// The host's buffers: create, write, read, free.
#[derive(Debug, Default)]
pub struct BufferTable {
    /// Ids are the table's own counter: a fast hash will do (every
    /// launch looks its buffers up).
    buffers: FxHashMap<BufferId, Arc<Buffer>>,
    next: u64,
}

impl BufferTable {
    /// An empty table.
    pub fn new() -> BufferTable {
        BufferTable::default()
    }

    /// Creates a zeroed buffer of `len` bytes.
    pub fn create(&mut self, len: usize) -> Result<BufferId, MemoryError> {
        let b = Buffer::zeroed(len)?;
        Ok(self.insert(b))
    }

    /// Creates a buffer holding a copy of `bytes`.
    pub fn create_from(&mut self, bytes: &[u8]) -> Result<BufferId, MemoryError> {
        let b = Buffer::from_bytes(bytes)?;
        Ok(self.insert(b))
    }

    /// Adds a buffer made elsewhere (such as [`Buffer::from_external`]).
    pub fn insert(&mut self, b: Buffer) -> BufferId {
        let id = BufferId(self.next);
        self.next += 1;
        self.buffers.insert(id, Arc::new(b));
        id
    }

    /// The buffer `id`.
    pub fn get(&self, id: BufferId) -> Result<&Arc<Buffer>, MemoryError> {
        self.buffers.get(&id).ok_or(MemoryError::UnknownBuffer(id))
    }

    /// Writes `bytes` at `offset` of buffer `id`.
    pub fn write(&self, id: BufferId, offset: usize, bytes: &[u8]) -> Result<(), MemoryError> {
        let b = self.get(id)?;
        b.write(offset, bytes)
            .map_err(|(offset, size)| MemoryError::OutOfRange {
                id,
                offset,
                size,
                len: b.len(),
            })
    }

    /// Reads the whole buffer `id`.
    pub fn read(&self, id: BufferId) -> Result<Vec<u8>, MemoryError> {
        Ok(self.get(id)?.to_bytes())
    }

    /// Frees buffer `id`. A launch that still holds it keeps it alive until
    /// the launch ends.
    pub fn free(&mut self, id: BufferId) -> Result<(), MemoryError> {
        self.buffers
            .remove(&id)
            .map(drop)
            .ok_or(MemoryError::UnknownBuffer(id))
    }

    /// Number of live buffers.
    pub fn len(&self) -> usize {
        self.buffers.len()
    }

    /// True when no buffer is live.
    pub fn is_empty(&self) -> bool {
        self.buffers.is_empty()
    }
}

#[cfg(test)]
mod tests {
    /// Field `field` (`Rss:`, `THPeligible:`) of the mapping of this
    /// process that holds `addr`, in `/proc/self/smaps` (the number only).
    #[cfg(all(target_os = "linux", not(miri)))]
    fn smaps_field_at(addr: usize, field: &str) -> usize {
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let mut inside = false;
        for line in smaps.lines() {
            if let Some((range, _)) = line.split_once(' ') {
                if let Some((a, b)) = range.split_once('-') {
                    if let (Ok(a), Ok(b)) =
                        (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16))
                    {
                        inside = a <= addr && addr < b;
                        continue;
                    }
                }
            }
            if inside {
                if let Some(v) = line.strip_prefix(field) {
                    return v.trim().trim_end_matches("kB").trim().parse().unwrap();
                }
            }
        }
        panic!("no mapping holds {addr:#x}, or it has no {field}");
    }

    /// Resident bytes of the mapping of this process that holds `addr`.
    #[cfg(all(target_os = "linux", not(miri)))]
    fn resident_bytes_at(addr: usize) -> usize {
        smaps_field_at(addr, "Rss:") * 1024
    }

    #[cfg(all(target_os = "linux", not(miri)))]
    #[test]
    fn big_buffers_ask_for_huge_pages() {
        let thp = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled")
            .unwrap_or_default();
        if !thp.contains("[madvise]") && !thp.contains("[always]") {
            eprintln!("transparent huge pages are off here: nothing to check");
            return;
        }
        // The middle of the buffer (its first page may share a mapping
        // with what the allocator keeps before it, which is not advised).
        let big = Buffer::zeroed(HUGE_PAGE_MIN).unwrap();
        let addr = big.words.as_ptr() as usize + HUGE_PAGE_MIN / 2;
        assert_eq!(smaps_field_at(addr, "THPeligible:"), 1);
    }

    #[cfg(all(target_os = "linux", not(miri)))]
    #[test]
    fn zeroed_buffers_do_not_touch_their_pages() {
        // 256 MiB, zeroed by the allocator: the pages stay unmapped until
        // written (before, every word was written with zero: all resident).
        let len = 256 << 20;
        let b = Buffer::zeroed(len).unwrap();
        let addr = b.words.as_ptr() as usize;
        assert!(
            resident_bytes_at(addr) < 16 << 20,
            "{} bytes resident",
            resident_bytes_at(addr)
        );
        // Writing a byte makes one page resident and reads back; the rest
        // still reads as zero.
        b.write_bytes(len / 2, &[7]);
        assert_eq!(b.load(len as u64 / 2, 1), Ok(7));
        assert_eq!(b.load(len as u64 - 8, 8), Ok(0));
        assert!(resident_bytes_at(addr) < 16 << 20);
    }

    use super::*;

    #[test]
    fn external_memory_is_used_in_place() {
        use std::sync::atomic::AtomicBool;

        /// Sets its flag when dropped: tells when the buffer lets go.
        struct Lender(Arc<AtomicBool>);
        impl Drop for Lender {
            fn drop(&mut self) {
                self.0.store(true, Ordering::SeqCst);
            }
        }

        let mut words = vec![0u64; 4];
        let ptr = NonNull::new(words.as_mut_ptr().cast::<u8>()).unwrap();
        let returned = Arc::new(AtomicBool::new(false));
        // SAFETY: `words` outlives `b` and is not touched until `b` is gone.
        let b =
            unsafe { Buffer::from_external(ptr, 32, Box::new(Lender(returned.clone()))) }.unwrap();
        assert_eq!(b.len(), 32);
        b.write(3, &[9, 8, 7]).unwrap();
        b.store_at(16, 4, 0xdead_beef);
        assert_eq!(b.update_at(16, 4, &mut |v| v + 1), 0xdead_beef);
        assert_eq!(b.load(3, 1), Ok(9));
        assert_eq!(
            b.load(32, 1).unwrap_err(),
            AccessError::OutOfBounds {
                offset: 32,
                size: 1,
                len: 32
            }
        );
        {
            let frozen = b.try_freeze().unwrap();
            let mut out = [0u32; 2];
            frozen.load_run32(16, &mut out);
            assert_eq!(out, [0xdead_bef0, 0]);
        }
        let bytes = b.to_bytes();
        drop(b);
        assert!(
            returned.load(Ordering::SeqCst),
            "the owner is dropped with the buffer"
        );
        // The writes went to the lent memory itself.
        let lent: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        assert_eq!(lent, bytes);
        assert_eq!(&lent[3..6], &[9, 8, 7]);
        assert_eq!(words[2], 0xdead_bef0);

        // Memory that cannot hold whole aligned words is refused, and the
        // owner is handed back at once.
        for (offset, len) in [(4, 16), (0, 12), (1, 8)] {
            let returned = Arc::new(AtomicBool::new(false));
            // SAFETY: refused before anything is accessed.
            let err = unsafe {
                Buffer::from_external(ptr.add(offset), len, Box::new(Lender(returned.clone())))
            }
            .unwrap_err();
            assert!(matches!(err, MemoryError::ExternalLayout { bytes, .. } if bytes == len));
            assert!(returned.load(Ordering::SeqCst));
        }
        // An empty buffer over a valid pointer is fine.
        // SAFETY: no byte is ever accessed.
        let empty = unsafe { Buffer::from_external(ptr, 0, Box::new(())) }.unwrap();
        assert!(empty.is_empty());
        assert_eq!(empty.to_bytes(), Vec::<u8>::new());
    }

    #[test]
    fn bytes_round_trip_little_endian() {
        let bytes: Vec<u8> = (0..13).collect();
        let b = Buffer::from_bytes(&bytes).unwrap();
        assert_eq!(b.to_bytes(), bytes);
        assert_eq!(
            b.load(4, 4).unwrap(),
            u32::from_le_bytes([4, 5, 6, 7]) as u64
        );
        assert_eq!(b.load(12, 1).unwrap(), 12);
    }

    #[test]
    fn read_into_copies_every_range() {
        let bytes: Vec<u8> = (0..29).map(|i| i * 7 + 1).collect();
        let b = Buffer::from_bytes(&bytes).unwrap();
        for start in 0..=bytes.len() {
            for end in start..=bytes.len() {
                let mut out = vec![0xAA; end - start];
                b.read_into(start, &mut out).unwrap();
                assert_eq!(out, bytes[start..end], "{start}..{end}");
            }
        }
        let mut out = [0u8; 4];
        assert_eq!(b.read_into(26, &mut out), Err((26, 4)));
        assert_eq!(b.read_into(usize::MAX, &mut out), Err((usize::MAX, 4)));
        assert_eq!(out, [0; 4], "a refused read writes nothing");
    }

    #[test]
    fn host_writes_touch_exactly_their_bytes() {
        let len = 29;
        let base: Vec<u8> = (0..len as u8).map(|i| i.wrapping_mul(37)).collect();
        for offset in 0..len {
            for n in 0..=len - offset {
                let b = Buffer::from_bytes(&base).unwrap();
                let patch: Vec<u8> = (0..n as u8).map(|i| 200u8.wrapping_add(i)).collect();
                b.write(offset, &patch).unwrap();
                let mut want = base.clone();
                want[offset..offset + n].copy_from_slice(&patch);
                assert_eq!(b.to_bytes(), want, "offset {offset} n {n}");
            }
        }
        assert!(Buffer::zeroed(4).unwrap().write(2, &[0; 3]).is_err());
    }

    #[test]
    fn narrow_stores_keep_neighbours() {
        let b = Buffer::zeroed(16).unwrap();
        b.store(0, 1, 0xAB).unwrap();
        b.store(2, 2, 0x1234).unwrap();
        b.store(4, 4, 0xDEADBEEF).unwrap();
        b.store(8, 8, u64::MAX).unwrap();
        assert_eq!(b.load(0, 8).unwrap(), 0xDEAD_BEEF_1234_00AB);
        assert_eq!(b.load(8, 8).unwrap(), u64::MAX);
        b.store(1, 1, 0xFFFF).unwrap();
        assert_eq!(b.load(0, 2).unwrap(), 0xFFAB);
    }

    #[test]
    fn store_runs_write_exactly_their_bytes() {
        for size in [1usize, 2, 4, 8] {
            for start in 0..3usize {
                for count in 0..20usize {
                    let len = 8 * 8;
                    if (start + count) * size > len {
                        continue;
                    }
                    let b = Buffer::from_bytes(&vec![0xEE; len]).unwrap();
                    let value = |i: usize| 0x0102_0304_0506_0708u64.wrapping_mul(i as u64 + 1);
                    let values: Vec<u64> = (0..count).map(value).collect();
                    b.store_run(start * size, size, &values);
                    let mut want = vec![0xEEu8; len];
                    for i in 0..count {
                        let at = (start + i) * size;
                        want[at..at + size].copy_from_slice(&value(i).to_le_bytes()[..size]);
                    }
                    assert_eq!(
                        b.to_bytes(),
                        want,
                        "size {size} start {start} count {count}"
                    );
                    let mut got = vec![0u64; count];
                    b.load_run(start * size, size, &mut got, |v| v);
                    for (i, g) in got.iter().enumerate() {
                        assert_eq!(*g, value(i) & lane_mask(size));
                    }
                }
            }
        }
    }

    /// Runs `load_run`/`store_run` of `count` elements of `size` bytes
    /// from element `start` against `load_at`/`store_at` one by one, in a
    /// buffer of distinct bytes, and checks every byte of the buffer.
    fn check_run_against_elements(size: usize, start: usize, count: usize, seed: u64) {
        let len = (start + count) * size + 8 + seed as usize % 9;
        let fill: Vec<u8> = (0..len)
            .map(|i| (i as u64).wrapping_mul(0x9E37_79B9).wrapping_add(seed) as u8)
            .collect();
        let value = |i: usize| {
            0x0123_4567_89AB_CDEFu64
                .wrapping_mul(i as u64 + 1)
                .rotate_left(seed as u32 % 64)
        };
        let values: Vec<u64> = (0..count).map(value).collect();
        let offset = start * size;
        let what = format!("size {size} start {start} count {count} len {len}");

        // Loads: against element loads, with a convert that marks its input.
        let b = Buffer::from_bytes(&fill).unwrap();
        let mut got = vec![u64::MAX; count];
        b.load_run(offset, size, &mut got, |v| v ^ 0xA5A5 << 48);
        for (i, g) in got.iter().enumerate() {
            assert_eq!(
                *g,
                b.load_at(offset + i * size, size) ^ 0xA5A5 << 48,
                "{what} element {i}"
            );
        }

        // Stores: against element stores into a second buffer; bytes outside
        // the run keep their values.
        let run = Buffer::from_bytes(&fill).unwrap();
        let one = Buffer::from_bytes(&fill).unwrap();
        run.store_run(offset, size, &values);
        for (i, &v) in values.iter().enumerate() {
            one.store_at(offset + i * size, size, v);
        }
        let bytes = run.to_bytes();
        assert_eq!(bytes, one.to_bytes(), "{what}");
        assert_eq!(bytes[..offset], fill[..offset], "{what}");
        assert_eq!(
            bytes[offset + count * size..],
            fill[offset + count * size..],
            "{what}"
        );

        // The 32-bit register runs, likewise (shared memory too).
        if size == 4 {
            let mut shared = SharedMemory::default();
            shared.reset(len);
            shared.store_run(0, 1, &fill.iter().map(|&v| v as u64).collect::<Vec<_>>());
            let mut got = vec![u32::MAX; count];
            b.load_run32(offset, &mut got);
            let mut got_shared = vec![u32::MAX; count];
            shared.load_run32(offset, &mut got_shared);
            // And the plain copies of a frozen buffer.
            let mut got_frozen = vec![u32::MAX; count];
            b.try_freeze()
                .expect("nothing writes it")
                .load_run32(offset, &mut got_frozen);
            for (i, ((g, s), f)) in got.iter().zip(&got_shared).zip(&got_frozen).enumerate() {
                let want = b.load_at(offset + i * 4, 4) as u32;
                assert_eq!((*g, *s, *f), (want, want, want), "{what} element {i}");
            }
            let narrow: Vec<u32> = values.iter().map(|&v| v as u32).collect();
            let run32 = Buffer::from_bytes(&fill).unwrap();
            run32.store_run32(offset, &narrow);
            assert_eq!(run32.to_bytes(), bytes, "{what}");
            shared.store_run32(offset, &narrow);
            let shared_bytes: Vec<u8> = (0..len).map(|i| shared.load_at(i, 1) as u8).collect();
            assert_eq!(shared_bytes, bytes, "{what}");
        }
    }

    #[test]
    fn runs_match_element_accesses() {
        for size in [1usize, 2, 4, 8] {
            // Under Miri (slow), runs of up to three words and one element
            // still cover every head, body and tail shape.
            let longest = if cfg!(miri) { 24 / size + 1 } else { 40 };
            // Every start within a word (every head length), past a word.
            for start in 0..(16 / size) {
                for count in 0..=longest {
                    check_run_against_elements(size, start, count, (start * 41 + count) as u64);
                }
            }
        }
    }

    #[test]
    #[cfg_attr(
        miri,
        ignore = "minutes under Miri; the short runs cover the same shapes"
    )]
    fn long_runs_match_element_accesses() {
        // Runs long enough for whole multi-word stretches, with every head
        // and tail length.
        for size in [1usize, 2, 4, 8] {
            let per_word = 8 / size;
            for start in 0..per_word {
                for count in [255, 256, 257, 1000, 1024 + per_word - 1] {
                    check_run_against_elements(size, start, count, count as u64);
                }
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        #[test]
        fn runs_match_element_accesses_prop(
            size_log in 0u32..4,
            start in 0usize..64,
            count in 0usize..300,
            seed in proptest::prelude::any::<u64>(),
        ) {
            check_run_against_elements(1 << size_log, start, count, seed);
        }
    }

    #[test]
    fn accesses_are_checked() {
        let b = Buffer::zeroed(10).unwrap();
        assert_eq!(
            b.load(8, 4),
            Err(AccessError::OutOfBounds {
                offset: 8,
                size: 4,
                len: 10
            })
        );
        assert_eq!(
            b.load(u64::MAX, 1),
            Err(AccessError::OutOfBounds {
                offset: u64::MAX as i128,
                size: 1,
                len: 10
            })
        );
        assert_eq!(
            b.load(2, 4),
            Err(AccessError::Misaligned { offset: 2, size: 4 })
        );
        assert!(b.load(9, 1).is_ok());
        let empty = Buffer::zeroed(0).unwrap();
        assert!(empty.load(0, 1).is_err());
    }

    #[test]
    fn update_is_atomic_across_threads() {
        let b = Arc::new(Buffer::zeroed(8).unwrap());
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let b = b.clone();
                std::thread::spawn(move || {
                    for _ in 0..if cfg!(miri) { 20 } else { 1000 } {
                        // Two counters in the two halves of one word.
                        b.update_at((t % 2) * 4, 4, &mut |old| old + 1);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let n = if cfg!(miri) { 40 } else { 2000 };
        assert_eq!(b.load(0, 4).unwrap(), n);
        assert_eq!(b.load(4, 4).unwrap(), n);
    }

    #[test]
    fn freezing_and_writing_exclude_each_other() {
        let b = Buffer::from_bytes(&[1, 2, 3, 4, 5, 6, 7, 8]).unwrap();
        // A registered writer: no freeze.
        let w = b.begin_write();
        assert!(b.try_freeze().is_none());
        drop(w);
        // Frozen readers share; a writer may not start meanwhile.
        let f1 = b.try_freeze().unwrap();
        let f2 = b.try_freeze().unwrap();
        let wrote = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            let writer = s.spawn(|| {
                b.write(0, &[9]).unwrap();
                wrote.store(true, Ordering::SeqCst);
            });
            // Once the writer waits, new readers are turned away (no
            // starvation) and the write has not happened.
            while b.gate.state.lock().waiting == 0 {
                std::thread::yield_now();
            }
            assert!(b.try_freeze().is_none());
            assert!(!wrote.load(Ordering::SeqCst));
            let mut out = [0u32; 2];
            f1.load_run32(0, &mut out);
            assert_eq!(out[0], u32::from_le_bytes([1, 2, 3, 4]));
            drop(f1);
            assert!(!wrote.load(Ordering::SeqCst), "one reader is left");
            drop(f2);
            writer.join().unwrap();
        });
        assert!(wrote.load(Ordering::SeqCst));
        assert_eq!(b.load(0, 1).unwrap(), 9);
        // Everything released: freezing works again, and the plain view of
        // the elements agrees with atomic loads.
        let f = b.try_freeze().unwrap();
        if let Some(e) = f.elements32() {
            assert_eq!(e.len(), 2);
            for (i, &v) in e.iter().enumerate() {
                assert_eq!(v as u64, b.load(4 * i as u64, 4).unwrap());
            }
        }
    }

    #[test]
    fn shared_memory_resets_to_zero() {
        let mut s = SharedMemory::default();
        s.reset(8);
        s.store(4, 4, 7).unwrap();
        assert_eq!(s.load(4, 4).unwrap(), 7);
        s.reset(8);
        assert_eq!(s.load(4, 4).unwrap(), 0);
        assert!(s.load(8, 1).is_err());
    }

    #[test]
    fn table_create_write_read_free() {
        let mut t = BufferTable::new();
        let id = t.create(4).unwrap();
        t.write(id, 1, &[1, 2]).unwrap();
        assert_eq!(t.read(id).unwrap(), vec![0, 1, 2, 0]);
        assert!(matches!(
            t.write(id, 3, &[1, 2]),
            Err(MemoryError::OutOfRange { .. })
        ));
        t.free(id).unwrap();
        assert_eq!(t.read(id), Err(MemoryError::UnknownBuffer(id)));
        assert!(t.create(usize::MAX).is_err());
    }
}
