//! Stand-ins for the unwinder's entry points, linked only into the size-tuned static
//! shell (`cfg(static_shell)`, see ../build.rs). That build aborts on panic and carries
//! no unwind tables (link/no-unwind-tables.ld), so libunwind could never walk a frame;
//! defining the few symbols std refers to keeps libunwind.a (and the C `printf` its
//! logging pulls in, about 60 KB in all) out of the binary. Nothing unwinds: a panic
//! still prints its message and aborts; `RUST_BACKTRACE=1` prints no frames, as before.

use std::ffi::{c_int, c_void};

/// `_URC_END_OF_STACK`: the walk found no (more) frames.
const END_OF_STACK: c_int = 5;

/// Walks no frame: there are no unwind tables to walk.
#[unsafe(no_mangle)]
extern "C" fn _Unwind_Backtrace(_trace: *const c_void, _arg: *mut c_void) -> c_int {
    END_OF_STACK
}

/// Only a landing pad calls this, and with `panic = "abort"` none is ever entered.
#[unsafe(no_mangle)]
extern "C" fn _Unwind_Resume(_exception: *mut c_void) -> ! {
    std::process::abort()
}

// The context accessors: only reached from a frame walk or a personality routine, and
// neither ever runs. They answer "nothing" rather than touch the context.

#[unsafe(no_mangle)]
extern "C" fn _Unwind_GetIP(_context: *mut c_void) -> usize {
    0
}

#[unsafe(no_mangle)]
extern "C" fn _Unwind_GetIPInfo(_context: *mut c_void, before_insn: *mut c_int) -> usize {
    if !before_insn.is_null() {
        // SAFETY: the caller passes a pointer to its own int, or null (checked).
        unsafe { *before_insn = 0 };
    }
    0
}

#[unsafe(no_mangle)]
extern "C" fn _Unwind_GetLanguageSpecificData(_context: *mut c_void) -> usize {
    0
}

#[unsafe(no_mangle)]
extern "C" fn _Unwind_GetRegionStart(_context: *mut c_void) -> usize {
    0
}

#[unsafe(no_mangle)]
extern "C" fn _Unwind_GetTextRelBase(_context: *mut c_void) -> usize {
    0
}

#[unsafe(no_mangle)]
extern "C" fn _Unwind_GetDataRelBase(_context: *mut c_void) -> usize {
    0
}

#[unsafe(no_mangle)]
extern "C" fn _Unwind_SetGR(_context: *mut c_void, _index: c_int, _value: usize) {
    std::process::abort()
}

#[unsafe(no_mangle)]
extern "C" fn _Unwind_SetIP(_context: *mut c_void, _value: usize) {
    std::process::abort()
}
