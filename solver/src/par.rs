//! A small parallel map on scoped std threads.
//!
//! Not rayon: the items are the worker's source keys, image resolutions (registry pulls) and
//! context digests, which block on the network and on locks, and a rayon worker waiting inside
//! a nested parallel loop (the context digest is one) runs other queued items on its own
//! stack, so one pull could stall a digest that is nearly done. Plain threads keep each item
//! on its own thread; the context digest uses rayon's global pool inside.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

/// Apply `f` to every item on up to `jobs` threads, stopping early at the first error (the
/// one with the lowest index among those computed is returned) or when `cancel` is set
/// (`Ok(None)`). Results come back in item order.
pub(crate) fn try_map<T, R, E>(
    items: &[T],
    jobs: usize,
    cancel: &AtomicBool,
    f: impl Fn(&T) -> Result<R, E> + Sync,
) -> Result<Option<Vec<R>>, E>
where
    T: Sync,
    R: Send,
    E: Send,
{
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let slots: Vec<Mutex<Option<Result<R, E>>>> = items.iter().map(|_| Mutex::new(None)).collect();
    let threads = jobs.max(1).min(items.len());
    let work = || loop {
        if failed.load(Ordering::SeqCst) || cancel.load(Ordering::SeqCst) {
            return;
        }
        let i = next.fetch_add(1, Ordering::SeqCst);
        let Some(item) = items.get(i) else { return };
        let r = f(item);
        if r.is_err() {
            failed.store(true, Ordering::SeqCst);
        }
        *slots[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(r);
    };
    if threads <= 1 {
        work();
    } else {
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(work);
            }
        });
    }
    let mut out = Vec::with_capacity(items.len());
    let mut missing = false;
    for slot in slots {
        match slot.into_inner().unwrap_or_else(|p| p.into_inner()) {
            Some(Ok(r)) => out.push(r),
            Some(Err(e)) => return Err(e),
            None => missing = true,
        }
    }
    if missing {
        return Ok(None);
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_in_order_and_reports_the_first_error() {
        let items: Vec<u32> = (0..50).collect();
        let no = AtomicBool::new(false);
        let r: Result<_, String> = try_map(&items, 4, &no, |x| Ok(x * 2));
        assert_eq!(
            r.unwrap().unwrap(),
            items.iter().map(|x| x * 2).collect::<Vec<_>>()
        );
        let r = try_map(&items, 1, &no, |x| {
            if *x >= 7 {
                Err(format!("bad {x}"))
            } else {
                Ok(*x)
            }
        });
        assert_eq!(r.unwrap_err(), "bad 7");
        let yes = AtomicBool::new(true);
        let r: Result<_, String> = try_map(&items, 4, &yes, |x| Ok(*x));
        assert!(r.unwrap().is_none());
        let empty: Vec<u32> = Vec::new();
        let r: Result<_, String> = try_map(&empty, 4, &no, |x| Ok(*x));
        assert_eq!(r.unwrap().unwrap(), Vec::<u32>::new());
    }
}
