//! The module image the NVRTC stand-in hands out: NVRTC's real CUBIN with
//! one more ELF section, which carries the host build of the same program.
//!
//! The section is appended after the CUBIN's own bytes, with a copy of the
//! section header table that lists it (`e_shoff` and `e_shnum` updated);
//! every original section stays where it was. The image is still a valid
//! ELF file, and the driver stand-in finds the section through the header
//! table alone, so it never reads past the image (`cuModuleLoadData` gets
//! no length). spindle's disk cache stores the image like any CUBIN, so a
//! second process loads the host build from there without compiling.

use crate::resources::EntryResources;

/// `sh_type` of the section (in the user range, `SHT_LOUSER` = 0x80000000).
pub const SECTION_TYPE: u32 = 0x8053_454d;
const PAYLOAD_MAGIC: &[u8; 8] = b"SPEMU\x02\0\0";
const ELF_HEADER: usize = 64;
const SECTION_HEADER: usize = 64;

/// How the program's blocks must run, and what the driver needs to know.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostPart {
    /// The program's name (as given to `nvrtcCreateProgram`).
    pub program: String,
    /// The compute capability it was compiled for, e.g. 90 for `sm_90`.
    pub arch: u32,
    /// The device side it was built against (`host_build::shims_version`).
    pub shims: String,
    /// A spindle ring kernel (built against the ring shim).
    pub ring: bool,
    /// Its threads may wait for each other or share memory: a block's
    /// threads run concurrently, one block per loaded copy at a time.
    pub concurrent: bool,
    /// It polls memory between sleeps (a persistent kernel).
    pub polls: bool,
    /// ptxas's report of each entry point.
    pub entries: Vec<EntryResources>,
    /// The host build (a shared library), or g++'s log when it failed.
    pub library: Result<Vec<u8>, String>,
}

fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(b[o..o + 4].try_into().expect("4 bytes"))
}
fn u64_at(b: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(b[o..o + 8].try_into().expect("8 bytes"))
}
fn u16_at(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes(b[o..o + 2].try_into().expect("2 bytes"))
}

/// `true` for a 64-bit little-endian ELF header.
pub fn is_elf64(header: &[u8]) -> bool {
    header.len() >= ELF_HEADER && header.starts_with(b"\x7fELF") && header[4] == 2 && header[5] == 1
}

impl HostPart {
    fn encode(&self) -> Vec<u8> {
        let mut out = PAYLOAD_MAGIC.to_vec();
        let put_bytes = |out: &mut Vec<u8>, b: &[u8]| {
            out.extend_from_slice(&(b.len() as u64).to_le_bytes());
            out.extend_from_slice(b);
        };
        put_bytes(&mut out, self.program.as_bytes());
        out.extend_from_slice(&self.arch.to_le_bytes());
        put_bytes(&mut out, self.shims.as_bytes());
        let flags =
            u32::from(self.ring) | u32::from(self.concurrent) << 1 | u32::from(self.polls) << 2;
        out.extend_from_slice(&flags.to_le_bytes());
        out.extend_from_slice(&(self.entries.len() as u32).to_le_bytes());
        for e in &self.entries {
            put_bytes(&mut out, e.name.as_bytes());
            for v in [e.registers, e.stack_bytes, e.shared_bytes, e.launch_bound] {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        match &self.library {
            Ok(lib) => {
                out.extend_from_slice(&0u32.to_le_bytes());
                put_bytes(&mut out, lib);
            }
            Err(log) => {
                out.extend_from_slice(&1u32.to_le_bytes());
                put_bytes(&mut out, log.as_bytes());
            }
        }
        out
    }

    fn decode(b: &[u8]) -> Result<HostPart, String> {
        struct Reader<'a> {
            b: &'a [u8],
            at: usize,
        }
        impl Reader<'_> {
            fn take(&mut self, n: usize) -> Result<&[u8], String> {
                let end = self.at.checked_add(n).filter(|e| *e <= self.b.len());
                let end = end.ok_or("the host part of the image is truncated")?;
                let s = &self.b[self.at..end];
                self.at = end;
                Ok(s)
            }
            fn u32(&mut self) -> Result<u32, String> {
                Ok(u32_at(self.take(4)?, 0))
            }
            fn bytes(&mut self) -> Result<&[u8], String> {
                let n = u64_at(self.take(8)?, 0) as usize;
                self.take(n)
            }
            fn text(&mut self) -> Result<String, String> {
                Ok(String::from_utf8_lossy(self.bytes()?).into_owned())
            }
        }
        let mut r = Reader { b, at: 0 };
        if r.take(8)? != PAYLOAD_MAGIC {
            return Err(
                "the image's host part was written by another version of the stand-in".into(),
            );
        }
        let program = r.text()?;
        let arch = r.u32()?;
        let shims = r.text()?;
        let flags = r.u32()?;
        let n = r.u32()?;
        let mut entries = Vec::new();
        for _ in 0..n {
            let name = r.text()?;
            entries.push(EntryResources {
                name,
                registers: r.u32()?,
                stack_bytes: r.u32()?,
                shared_bytes: r.u32()?,
                launch_bound: r.u32()?,
            });
        }
        let library = match r.u32()? {
            0 => Ok(r.bytes()?.to_vec()),
            _ => Err(r.text()?),
        };
        Ok(HostPart {
            program,
            arch,
            shims,
            ring: flags & 1 != 0,
            concurrent: flags & 2 != 0,
            polls: flags & 4 != 0,
            entries,
            library,
        })
    }
}

/// `cubin` with `host` added as a section (see the module doc).
pub fn embed(cubin: &[u8], host: &HostPart) -> Result<Vec<u8>, String> {
    if !is_elf64(cubin) {
        return Err("NVRTC's CUBIN is not a 64-bit little-endian ELF file".into());
    }
    let shoff = u64_at(cubin, 40) as usize;
    let shentsize = u16_at(cubin, 58) as usize;
    let shnum = u16_at(cubin, 60) as usize;
    let table_end = shoff + shnum * shentsize;
    if shentsize != SECTION_HEADER || table_end > cubin.len() || shnum >= 0xff00 {
        return Err("NVRTC's CUBIN has an unexpected section header table".into());
    }
    let payload = host.encode();
    let mut out = cubin.to_vec();
    out.resize(out.len().next_multiple_of(8), 0);
    let payload_at = out.len();
    out.extend_from_slice(&payload);
    out.resize(out.len().next_multiple_of(8), 0);
    let new_shoff = out.len();
    out.extend_from_slice(&cubin[shoff..table_end]);
    let mut section = [0u8; SECTION_HEADER];
    section[4..8].copy_from_slice(&SECTION_TYPE.to_le_bytes());
    section[24..32].copy_from_slice(&(payload_at as u64).to_le_bytes());
    section[32..40].copy_from_slice(&(payload.len() as u64).to_le_bytes());
    section[48..56].copy_from_slice(&8u64.to_le_bytes());
    out.extend_from_slice(&section);
    out[40..48].copy_from_slice(&(new_shoff as u64).to_le_bytes());
    out[60..62].copy_from_slice(&((shnum + 1) as u16).to_le_bytes());
    Ok(out)
}

/// The host part of an image in memory, `Ok(None)` for an ELF image
/// without one (a CUBIN that did not come from the NVRTC stand-in).
///
/// # Safety
///
/// `image` points to a complete ELF image (as `cuModuleLoadData` requires):
/// its header, and the section header table and sections the header
/// describes, are readable.
pub unsafe fn find(image: *const u8) -> Result<Option<HostPart>, String> {
    // SAFETY: every ELF image starts with a 64-byte header.
    let header = unsafe { std::slice::from_raw_parts(image, ELF_HEADER) };
    if !is_elf64(header) {
        return Err("the image is not a 64-bit ELF file (a CUBIN)".into());
    }
    let shoff = u64_at(header, 40) as usize;
    let shentsize = u16_at(header, 58) as usize;
    let shnum = u16_at(header, 60) as usize;
    if shentsize != SECTION_HEADER {
        return Err("the image's section headers have an unexpected size".into());
    }
    // SAFETY: the header says the table lies at `shoff`, inside the image.
    let table = unsafe { std::slice::from_raw_parts(image.add(shoff), shnum * SECTION_HEADER) };
    for s in table.chunks_exact(SECTION_HEADER) {
        if u32_at(s, 4) != SECTION_TYPE {
            continue;
        }
        let (at, len) = (u64_at(s, 24) as usize, u64_at(s, 32) as usize);
        // SAFETY: the section lies inside the image, as its header says.
        let payload = unsafe { std::slice::from_raw_parts(image.add(at), len) };
        return HostPart::decode(payload).map(Some);
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal ELF: header, one 16-byte section, and a table of two
    /// section headers (null and that section).
    fn tiny_elf() -> Vec<u8> {
        let mut b = vec![0u8; 64];
        b[..6].copy_from_slice(b"\x7fELF\x02\x01");
        b.extend_from_slice(&[7u8; 16]);
        let shoff = b.len();
        b.extend_from_slice(&[0u8; 128]);
        b[shoff + 64 + 24..shoff + 64 + 32].copy_from_slice(&64u64.to_le_bytes());
        b[shoff + 64 + 32..shoff + 64 + 40].copy_from_slice(&16u64.to_le_bytes());
        b[40..48].copy_from_slice(&(shoff as u64).to_le_bytes());
        b[58..60].copy_from_slice(&64u16.to_le_bytes());
        b[60..62].copy_from_slice(&2u16.to_le_bytes());
        b
    }

    #[test]
    fn the_host_part_round_trips_through_an_elf_section() {
        let host = HostPart {
            program: "saxpy.cu".into(),
            arch: 90,
            shims: "v1".into(),
            ring: false,
            concurrent: true,
            polls: false,
            entries: vec![EntryResources {
                name: "spindle_saxpy".into(),
                registers: 10,
                stack_bytes: 8,
                shared_bytes: 1024,
                launch_bound: 0,
            }],
            library: Ok(vec![1, 2, 3]),
        };
        let elf = tiny_elf();
        let image = embed(&elf, &host).unwrap();
        assert_eq!(&image[..40], &elf[..40], "the original header fields stay");
        assert_eq!(
            &image[64..80],
            &elf[64..80],
            "the original sections stay in place"
        );
        // SAFETY: `image` is a complete ELF image in memory.
        let back = unsafe { find(image.as_ptr()) }.unwrap().unwrap();
        assert_eq!(back, host);
        // SAFETY: as above.
        assert_eq!(unsafe { find(elf.as_ptr()) }.unwrap(), None);
        let failed = HostPart {
            library: Err("g++: error".into()),
            ..host
        };
        let image = embed(&elf, &failed).unwrap();
        // SAFETY: as above.
        let back = unsafe { find(image.as_ptr()) }.unwrap().unwrap();
        assert_eq!(back.library, Err("g++: error".into()));
    }

    #[test]
    fn not_an_elf_is_refused() {
        let text = b"// PTX\n.version 9.0\n\0".repeat(4);
        // SAFETY: 80 readable bytes, more than the 64 the check reads.
        assert!(unsafe { find(text.as_ptr()) }.is_err());
        let host = HostPart {
            program: String::new(),
            arch: 90,
            shims: String::new(),
            ring: false,
            concurrent: false,
            polls: false,
            entries: Vec::new(),
            library: Ok(Vec::new()),
        };
        assert!(embed(&text, &host).is_err());
    }
}
