//! Runtime CPU-feature dispatch for the hot loops.
//!
//! The crate is built for baseline x86-64 (SSE2), where the integer loops of the edge stage,
//! the voting and the radius histograms run in 128-bit vectors, with costly 32-bit
//! multiplies. [`hot!`] compiles such a function twice, once with AVX2 enabled and once
//! plain, and picks the AVX2 copy when the CPU has it. Both copies do the same integer and
//! IEEE float operations (no FMA, which would round differently), so results are identical.

/// True when the CPU supports AVX2. The standard library caches the answer after the first
/// query, so this is a load and a bit test.
#[cfg(target_arch = "x86_64")]
pub(crate) fn has_avx2() -> bool {
    std::arch::is_x86_feature_detected!("avx2")
}

/// Defines a function whose body is compiled once with AVX2 enabled and once plain, and that
/// runs the AVX2 copy when the CPU has it. Helpers the body calls should be
/// `#[inline(always)]` so they are compiled into each copy.
macro_rules! hot {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2")]
                fn avx2($($arg: $ty),*) $(-> $ret)? $body
                if crate::dispatch::has_avx2() {
                    // SAFETY: the CPU supports AVX2, the only feature `avx2` is compiled for.
                    return unsafe { avx2($($arg),*) };
                }
            }
            #[inline(always)]
            fn plain($($arg: $ty),*) $(-> $ret)? $body
            plain($($arg),*)
        }
    };
}
