//! Runtime CPU dispatch for the engine's elementwise kernels. `multiversion!` compiles a
//! function body twice, for the x86-64 baseline and with AVX2 + FMA, and calls the second
//! when the CPU has them. (Building the whole crate for AVX2 would crash R on older CPUs.)

macro_rules! multiversion {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $body:block) => {
        $(#[$meta])*
        #[allow(clippy::too_many_arguments)]
        $vis fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn v3($($arg: $ty),*) $body
                if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                    // SAFETY: the features were detected on this CPU just above.
                    return unsafe { v3($($arg),*) };
                }
            }
            #[allow(clippy::too_many_arguments)]
            fn base($($arg: $ty),*) $body
            base($($arg),*)
        }
    };
}
pub(crate) use multiversion;
