//! Lock helpers: a poisoned lock (a panic while holding it) still yields its data, since every
//! structure guarded here stays consistent between statements.

use std::sync::{Mutex, MutexGuard};

/// Locks `mutex`, recovering the data of a poisoned lock.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}
