//! The machine's CPUs, as the OS describes them.
//!
//! On Linux the topology comes from `/sys/devices/system/cpu`: which logical
//! CPUs exist (`online`, or the `cpuN` folders), and for each its core
//! (`topology/core_id`), package (`topology/physical_package_id`) and SMT
//! siblings (`topology/thread_siblings_list`). The CPUs this process may run
//! on come from its affinity mask (core_affinity). Where `/sys` is missing or
//! unreadable, every allowed CPU counts as its own core in package 0.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use serde::Serialize;

/// One logical CPU.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cpu {
    /// The OS's CPU number (what `sched_getcpu` returns).
    pub id: usize,
    /// The core it belongs to (unique across packages).
    pub core: usize,
    /// The package (socket) it belongs to.
    pub package: usize,
    /// The logical CPUs sharing its core, itself included, ascending.
    pub siblings: Vec<usize>,
}

/// Where the topology came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum TopologySource {
    /// Read from `/sys/devices/system/cpu`.
    Sysfs,
    /// `/sys` was not usable; one core per CPU, one package.
    Fallback,
}

/// The logical CPUs of the machine, with cores, SMT siblings and packages,
/// and the subset this process may run on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Topology {
    cpus: Vec<Cpu>,
    allowed: Vec<usize>,
    source: TopologySource,
}

impl Topology {
    /// Reads the topology of this machine and this process's affinity mask.
    pub fn detect() -> Topology {
        if cfg!(miri) {
            // Miri isolates the process from /sys and /proc.
            return Topology::fallback(vec![0, 1]);
        }
        let allowed = allowed_cpus();
        Topology::from_sysfs(Path::new("/sys/devices/system/cpu"), allowed.clone())
            .unwrap_or_else(|| Topology::fallback(allowed))
    }

    /// A topology where each of `allowed` is its own core in package 0.
    pub fn fallback(allowed: Vec<usize>) -> Topology {
        let mut allowed = allowed;
        allowed.sort_unstable();
        allowed.dedup();
        if allowed.is_empty() {
            let n = std::thread::available_parallelism().map_or(1, |n| n.get());
            allowed = (0..n).collect();
        }
        let cpus = allowed
            .iter()
            .map(|&id| Cpu {
                id,
                core: id,
                package: 0,
                siblings: vec![id],
            })
            .collect();
        Topology {
            cpus,
            allowed,
            source: TopologySource::Fallback,
        }
    }

    /// Reads a sysfs-shaped CPU folder (`root` is normally
    /// `/sys/devices/system/cpu`). `allowed` empty means "all of them".
    /// Returns `None` if the folder does not describe any CPU.
    pub fn from_sysfs(root: &Path, allowed: Vec<usize>) -> Option<Topology> {
        let ids = match fs::read_to_string(root.join("online")) {
            Ok(text) => parse_cpu_list(&text)?,
            Err(_) => {
                let mut ids = Vec::new();
                for entry in fs::read_dir(root).ok()? {
                    let name = entry.ok()?.file_name();
                    let name = name.to_string_lossy();
                    if let Some(n) = name.strip_prefix("cpu").and_then(|n| n.parse().ok()) {
                        ids.push(n);
                    }
                }
                ids.sort_unstable();
                ids
            }
        };
        if ids.is_empty() {
            return None;
        }
        let read = |cpu: usize, file: &str| -> Option<String> {
            fs::read_to_string(root.join(format!("cpu{cpu}/topology/{file}"))).ok()
        };
        // Core ids repeat across packages; number cores by (package, core_id).
        let mut core_keys: Vec<(usize, i64)> = Vec::new();
        let mut cpus = Vec::with_capacity(ids.len());
        for &id in &ids {
            let package = read(id, "physical_package_id")
                .and_then(|s| s.trim().parse::<i64>().ok())
                .filter(|&p| p >= 0)
                .map_or(0, |p| p as usize);
            let core_id = read(id, "core_id")
                .and_then(|s| s.trim().parse::<i64>().ok())
                .unwrap_or(id as i64);
            let key = (package, core_id);
            let core = match core_keys.iter().position(|k| *k == key) {
                Some(i) => i,
                None => {
                    core_keys.push(key);
                    core_keys.len() - 1
                }
            };
            let siblings = read(id, "thread_siblings_list")
                .or_else(|| read(id, "core_cpus_list"))
                .and_then(|s| parse_cpu_list(&s))
                .unwrap_or_else(|| vec![id]);
            cpus.push(Cpu {
                id,
                core,
                package,
                siblings,
            });
        }
        let mut allowed: Vec<usize> = if allowed.is_empty() {
            ids.clone()
        } else {
            allowed.into_iter().filter(|c| ids.contains(c)).collect()
        };
        allowed.sort_unstable();
        allowed.dedup();
        if allowed.is_empty() {
            allowed = ids;
        }
        Some(Topology {
            cpus,
            allowed,
            source: TopologySource::Sysfs,
        })
    }

    /// Every logical CPU the OS reports, ascending by id.
    pub fn cpus(&self) -> &[Cpu] {
        &self.cpus
    }

    /// The CPU with this id, if it exists.
    pub fn cpu(&self, id: usize) -> Option<&Cpu> {
        self.cpus.iter().find(|c| c.id == id)
    }

    /// The CPUs this process may run on (its affinity mask), ascending.
    pub fn allowed(&self) -> &[usize] {
        &self.allowed
    }

    /// Number of distinct cores.
    pub fn cores(&self) -> usize {
        self.cpus
            .iter()
            .map(|c| c.core)
            .collect::<BTreeSet<_>>()
            .len()
    }

    /// Number of distinct packages.
    pub fn packages(&self) -> usize {
        self.cpus
            .iter()
            .map(|c| c.package)
            .collect::<BTreeSet<_>>()
            .len()
    }

    /// Where this description came from.
    pub fn source(&self) -> TopologySource {
        self.source
    }

    /// The allowed CPUs in "close" order: package by package, core by core,
    /// SMT siblings next to each other. Consecutive entries are as close as
    /// the hardware allows; this is the list of places for [`Placement`].
    ///
    /// [`Placement`]: crate::Placement
    pub fn places(&self) -> Vec<usize> {
        let mut places: Vec<&Cpu> = self
            .cpus
            .iter()
            .filter(|c| self.allowed.contains(&c.id))
            .collect();
        places.sort_by_key(|c| (c.package, c.core, c.id));
        places.into_iter().map(|c| c.id).collect()
    }
}

/// Parses a Linux CPU list such as `0-3,8,10-11`.
pub fn parse_cpu_list(text: &str) -> Option<Vec<usize>> {
    let text = text.trim();
    if text.is_empty() {
        return Some(Vec::new());
    }
    let mut cpus = Vec::new();
    for part in text.split(',') {
        let part = part.trim();
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
                if b < a {
                    return None;
                }
                cpus.extend(a..=b);
            }
            None => cpus.push(part.parse().ok()?),
        }
    }
    cpus.sort_unstable();
    cpus.dedup();
    Some(cpus)
}

/// The CPUs in this process's affinity mask (empty if unknown).
fn allowed_cpus() -> Vec<usize> {
    if cfg!(miri) {
        return Vec::new();
    }
    core_affinity::get_core_ids()
        .map(|ids| ids.into_iter().map(|c| c.id).collect())
        .unwrap_or_default()
}

/// The CPU the calling thread is running on now, if the OS says.
pub(crate) fn current_cpu() -> Option<usize> {
    #[cfg(all(target_os = "linux", not(miri)))]
    {
        // SAFETY: sched_getcpu takes no arguments and only reads the calling
        // thread's CPU number; it returns -1 on failure.
        let cpu = unsafe { libc::sched_getcpu() };
        usize::try_from(cpu).ok()
    }
    #[cfg(not(all(target_os = "linux", not(miri))))]
    {
        None
    }
}

/// The OS thread id of the calling thread (Linux `gettid`), if known.
pub(crate) fn current_tid() -> Option<u64> {
    #[cfg(all(target_os = "linux", not(miri)))]
    {
        // SAFETY: gettid takes no arguments and cannot fail.
        let tid = unsafe { libc::gettid() };
        u64::try_from(tid).ok()
    }
    #[cfg(not(all(target_os = "linux", not(miri))))]
    {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_parse() {
        assert_eq!(
            parse_cpu_list("0-3,8,10-11\n"),
            Some(vec![0, 1, 2, 3, 8, 10, 11])
        );
        assert_eq!(parse_cpu_list("5"), Some(vec![5]));
        assert_eq!(parse_cpu_list(""), Some(vec![]));
        assert_eq!(parse_cpu_list("3-1"), None);
        assert_eq!(parse_cpu_list("x"), None);
    }

    #[cfg_attr(miri, ignore)] // touches the file system
    #[test]
    fn reads_a_fake_sysfs_with_smt_and_two_packages() {
        let root = std::env::temp_dir().join(format!("lanes-sched-topo-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(&root).unwrap();
        fs::write(root.join("online"), "0-7\n").unwrap();
        // 2 packages x 2 cores x 2 threads; siblings are n and n+4 within a
        // package's numbering, the common Linux layout.
        for cpu in 0..8usize {
            let dir = root.join(format!("cpu{cpu}/topology"));
            fs::create_dir_all(&dir).unwrap();
            let package = (cpu / 2) % 2;
            let core_id = cpu % 2;
            let sibling = if cpu < 4 { cpu + 4 } else { cpu - 4 };
            fs::write(dir.join("physical_package_id"), format!("{package}\n")).unwrap();
            fs::write(dir.join("core_id"), format!("{core_id}\n")).unwrap();
            let (a, b) = (cpu.min(sibling), cpu.max(sibling));
            fs::write(dir.join("thread_siblings_list"), format!("{a},{b}\n")).unwrap();
        }
        let topo = Topology::from_sysfs(&root, vec![]).unwrap();
        fs::remove_dir_all(&root).unwrap();
        assert_eq!(topo.cpus().len(), 8);
        assert_eq!(topo.cores(), 4);
        assert_eq!(topo.packages(), 2);
        assert_eq!(topo.cpu(1).unwrap().siblings, vec![1, 5]);
        // Close order keeps SMT siblings together, packages apart.
        assert_eq!(topo.places(), vec![0, 4, 1, 5, 2, 6, 3, 7]);
    }

    #[test]
    fn fallback_is_one_core_per_cpu() {
        let topo = Topology::fallback(vec![3, 1]);
        assert_eq!(topo.allowed(), &[1, 3]);
        assert_eq!(topo.cores(), 2);
        assert_eq!(topo.packages(), 1);
        assert_eq!(topo.places(), vec![1, 3]);
    }

    #[cfg_attr(miri, ignore)]
    #[test]
    fn detects_this_machine() {
        let topo = Topology::detect();
        assert!(!topo.allowed().is_empty());
        for cpu in topo.allowed() {
            assert!(topo.cpu(*cpu).is_some());
        }
    }
}
