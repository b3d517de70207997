//! Sensor Data Record decoding (IPMI v2.0 section 43) and reading conversion (section 36.3).
//! Pure: the partial-read walk that fetches the bytes lives in `client.rs`.

use crate::error::DecodeError;
use crate::wire::Reader;

pub const SDR_HEADER_LEN: usize = 5;
pub const RECORD_FULL_SENSOR: u8 = 0x01;
pub const RECORD_COMPACT_SENSOR: u8 = 0x02;
/// Record id that ends a repository walk.
pub const LAST_RECORD_ID: u16 = 0xFFFF;

/// The 5-byte SDR header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdrHeader {
    pub record_id: u16,
    pub version: u8,
    pub record_type: u8,
    /// Bytes following the header.
    pub body_len: u8,
}

impl SdrHeader {
    pub fn decode(d: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(d, "SDR header");
        Ok(SdrHeader {
            record_id: r.u16()?,
            version: r.u8()?,
            record_type: r.u8()?,
            body_len: r.u8()?,
        })
    }
}

/// Analog data format of the raw reading (SDR units 1, bits 7:6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnalogFormat {
    Unsigned,
    OnesComplement,
    TwosComplement,
    /// No analog reading (discrete sensor).
    None,
}

/// Linearization function (IPMI v2.0 section 36.3). `NonLinear` uses the SDR factors as if linear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Linearization {
    Linear,
    Ln,
    Log10,
    Log2,
    E,
    Exp10,
    Exp2,
    Inverse,
    Sqr,
    Cube,
    Sqrt,
    CubeRoot,
    NonLinear(u8),
}

impl Linearization {
    fn from_u8(v: u8) -> Self {
        match v & 0x7F {
            0 => Linearization::Linear,
            1 => Linearization::Ln,
            2 => Linearization::Log10,
            3 => Linearization::Log2,
            4 => Linearization::E,
            5 => Linearization::Exp10,
            6 => Linearization::Exp2,
            7 => Linearization::Inverse,
            8 => Linearization::Sqr,
            9 => Linearization::Cube,
            10 => Linearization::Sqrt,
            11 => Linearization::CubeRoot,
            other => Linearization::NonLinear(other),
        }
    }

    fn apply(self, x: f64) -> f64 {
        match self {
            Linearization::Linear | Linearization::NonLinear(_) => x,
            Linearization::Ln => x.ln(),
            Linearization::Log10 => x.log10(),
            Linearization::Log2 => x.log2(),
            Linearization::E => x.exp(),
            Linearization::Exp10 => 10f64.powf(x),
            Linearization::Exp2 => 2f64.powf(x),
            Linearization::Inverse => 1.0 / x,
            Linearization::Sqr => x * x,
            Linearization::Cube => x * x * x,
            Linearization::Sqrt => x.sqrt(),
            Linearization::CubeRoot => x.cbrt(),
        }
    }
}

/// Conversion factors y = L[(M*x + B*10^Bexp) * 10^Rexp].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Conversion {
    pub format: AnalogFormat,
    pub linearization: Linearization,
    pub m: i16,
    pub b: i16,
    pub b_exp: i8,
    pub r_exp: i8,
}

fn sign_extend(v: u16, bits: u32) -> i16 {
    let shift = 16 - bits;
    ((v << shift) as i16) >> shift
}

impl Conversion {
    /// Decode from the 6 bytes starting at SDR offset 24 (M .. R/B exp) plus
    /// units-1 and linearization bytes.
    pub fn from_bytes(units1: u8, lin: u8, f: &[u8; 6]) -> Self {
        let format = match units1 >> 6 {
            0 => AnalogFormat::Unsigned,
            1 => AnalogFormat::OnesComplement,
            2 => AnalogFormat::TwosComplement,
            _ => AnalogFormat::None,
        };
        let m = sign_extend(u16::from(f[0]) | (u16::from(f[1] & 0xC0) << 2), 10);
        let b = sign_extend(u16::from(f[2]) | (u16::from(f[3] & 0xC0) << 2), 10);
        let r_exp = sign_extend(u16::from(f[5] >> 4), 4) as i8;
        let b_exp = sign_extend(u16::from(f[5] & 0x0F), 4) as i8;
        Conversion {
            format,
            linearization: Linearization::from_u8(lin),
            m,
            b,
            b_exp,
            r_exp,
        }
    }

    /// Interpret the raw byte per the analog data format.
    pub fn raw_to_int(&self, raw: u8) -> Option<i32> {
        match self.format {
            AnalogFormat::Unsigned => Some(i32::from(raw)),
            AnalogFormat::TwosComplement => Some(i32::from(raw as i8)),
            AnalogFormat::OnesComplement => Some(if raw & 0x80 != 0 {
                -i32::from(!raw & 0x7F)
            } else {
                i32::from(raw)
            }),
            AnalogFormat::None => None,
        }
    }

    /// Convert a raw reading (or threshold) to units. None for discrete
    /// sensors or when the result is not a finite number.
    pub fn convert(&self, raw: u8) -> Option<f64> {
        let x = f64::from(self.raw_to_int(raw)?);
        let y = (f64::from(self.m) * x + f64::from(self.b) * 10f64.powi(i32::from(self.b_exp)))
            * 10f64.powi(i32::from(self.r_exp));
        let v = self.linearization.apply(y);
        // Round away float noise from 10^-n (e.g. 0.06 * 200 = 12.000000000000002).
        let v = (v * 1e6).round() / 1e6;
        v.is_finite().then_some(v)
    }
}

/// Sensor-related fields common to full and compact records.
#[derive(Debug, Clone, PartialEq)]
pub struct SensorRecord {
    pub record_id: u16,
    pub record_type: u8,
    pub owner_id: u8,
    pub owner_lun: u8,
    pub number: u8,
    pub entity_id: u8,
    pub entity_instance: u8,
    pub sensor_type: u8,
    pub event_reading_type: u8,
    pub units1: u8,
    pub base_unit: u8,
    pub modifier_unit: u8,
    /// Only full records carry conversion factors.
    pub conversion: Option<Conversion>,
    /// Thresholds stored in the SDR (full records only): unr, ucr, unc, lnr, lcr, lnc.
    pub sdr_thresholds: Option<[u8; 6]>,
    /// Readable-threshold mask from the SDR (bits as `ThresholdBits`).
    pub readable_thresholds: u8,
    pub name: String,
}

impl SensorRecord {
    /// True for threshold-based sensors (event/reading type 0x01).
    pub fn is_threshold(&self) -> bool {
        self.event_reading_type == 0x01
    }

    pub fn unit_name(&self) -> String {
        let base = unit_name(self.base_unit);
        if self.units1 & 0x01 != 0 {
            format!("% {base}")
        } else {
            base.to_string()
        }
    }
}

/// A decoded SDR: sensor records, or anything else kept as raw bytes.
#[derive(Debug, Clone, PartialEq)]
pub enum Sdr {
    Sensor(SensorRecord),
    Other { header: SdrHeader, body: Vec<u8> },
}

/// Decode an ID string (type/length byte + bytes). We handle 8-bit ASCII /
/// Latin-1 (type 3) and show others as best-effort lossy text.
fn id_string(tl: u8, bytes: &[u8]) -> String {
    let len = usize::from(tl & 0x1F).min(bytes.len());
    let s: String = bytes[..len]
        .iter()
        .take_while(|&&b| b != 0)
        .map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                b as char
            } else {
                '?'
            }
        })
        .collect();
    s.trim_end().to_string()
}

/// Decode a whole record (header + body).
pub fn decode_sdr(rec: &[u8]) -> Result<Sdr, DecodeError> {
    let header = SdrHeader::decode(rec)?;
    let body_end = SDR_HEADER_LEN + usize::from(header.body_len);
    if rec.len() < body_end {
        return Err(DecodeError::Truncated {
            what: "SDR body",
            needed: body_end,
            have: rec.len(),
        });
    }
    let rec = &rec[..body_end];
    match header.record_type {
        RECORD_FULL_SENSOR => decode_full(header, rec).map(Sdr::Sensor),
        RECORD_COMPACT_SENSOR => decode_compact(header, rec).map(Sdr::Sensor),
        _ => Ok(Sdr::Other {
            header,
            body: rec[SDR_HEADER_LEN..].to_vec(),
        }),
    }
}

fn common(header: SdrHeader, r: &mut Reader<'_>) -> Result<SensorRecord, DecodeError> {
    let owner_id = r.u8()?;
    let owner_lun = r.u8()? & 0x03;
    let number = r.u8()?;
    let entity_id = r.u8()?;
    let entity_instance = r.u8()?;
    let _init = r.u8()?;
    let _caps = r.u8()?;
    let sensor_type = r.u8()?;
    let event_reading_type = r.u8()?;
    let masks = r.array::<6>()?;
    let units1 = r.u8()?;
    let base_unit = r.u8()?;
    let modifier_unit = r.u8()?;
    Ok(SensorRecord {
        record_id: header.record_id,
        record_type: header.record_type,
        owner_id,
        owner_lun,
        number,
        entity_id,
        entity_instance,
        sensor_type,
        event_reading_type,
        units1,
        base_unit,
        modifier_unit,
        conversion: None,
        sdr_thresholds: None,
        // Readable thresholds: bits 5:0 of byte 19 (mask bytes 18..19, upper byte's low bits).
        readable_thresholds: masks[4] & 0x3F,
        name: String::new(),
    })
}

fn decode_full(header: SdrHeader, rec: &[u8]) -> Result<SensorRecord, DecodeError> {
    let mut r = Reader::new(rec, "full sensor record");
    let _ = r.take(SDR_HEADER_LEN)?;
    let mut s = common(header, &mut r)?;
    let lin = r.u8()?;
    let factors = r.array::<6>()?;
    s.conversion = Some(Conversion::from_bytes(s.units1, lin, &factors));
    let _analog_flags = r.u8()?;
    let _nominal_and_ranges = r.array::<5>()?;
    s.sdr_thresholds = Some(r.array::<6>()?);
    let _hyst = r.array::<2>()?;
    let _reserved = r.array::<2>()?;
    let _oem = r.u8()?;
    let tl = r.u8()?;
    s.name = id_string(tl, r.rest());
    Ok(s)
}

fn decode_compact(header: SdrHeader, rec: &[u8]) -> Result<SensorRecord, DecodeError> {
    let mut r = Reader::new(rec, "compact sensor record");
    let _ = r.take(SDR_HEADER_LEN)?;
    let mut s = common(header, &mut r)?;
    let _sharing = r.array::<2>()?;
    let _hyst = r.array::<2>()?;
    let _reserved = r.array::<3>()?;
    let _oem = r.u8()?;
    let tl = r.u8()?;
    s.name = id_string(tl, r.rest());
    Ok(s)
}

/// Sensor type names (IPMI v2.0 section 42.2, table 42-3), enough for metal's groups.
pub fn sensor_type_name(t: u8) -> &'static str {
    match t {
        0x01 => "Temperature",
        0x02 => "Voltage",
        0x03 => "Current",
        0x04 => "Fan",
        0x05 => "Physical Security",
        0x06 => "Platform Security",
        0x07 => "Processor",
        0x08 => "Power Supply",
        0x09 => "Power Unit",
        0x0A => "Cooling Device",
        0x0B => "Other Units-based Sensor",
        0x0C => "Memory",
        0x0D => "Drive Slot",
        0x0F => "System Firmware Progress",
        0x10 => "Event Logging Disabled",
        0x12 => "System Event",
        0x13 => "Critical Interrupt",
        0x14 => "Button / Switch",
        0x15 => "Module / Board",
        0x17 => "Add-in Card",
        0x18 => "Chassis",
        0x19 => "Chip Set",
        0x1B => "Cable / Interconnect",
        0x1D => "System Boot Initiated",
        0x1F => "OS Boot",
        0x20 => "OS Critical Stop",
        0x21 => "Slot / Connector",
        0x22 => "System ACPI Power State",
        0x23 => "Watchdog",
        0x25 => "Entity Presence",
        0x28 => "Management Subsystem Health",
        0x29 => "Battery",
        0x2C => "FRU State",
        0xC0..=0xFF => "OEM",
        _ => "Other",
    }
}

/// Base unit names as ipmitool prints them (IPMI v2.0 section 43.17, table 43-15).
pub fn unit_name(u: u8) -> &'static str {
    const NAMES: [&str; 93] = [
        "unspecified",
        "degrees C",
        "degrees F",
        "degrees K",
        "Volts",
        "Amps",
        "Watts",
        "Joules",
        "Coulombs",
        "VA",
        "Nits",
        "lumen",
        "lux",
        "Candela",
        "kPa",
        "PSI",
        "Newton",
        "CFM",
        "RPM",
        "Hz",
        "microsecond",
        "millisecond",
        "second",
        "minute",
        "hour",
        "day",
        "week",
        "mil",
        "inches",
        "feet",
        "cu in",
        "cu feet",
        "mm",
        "cm",
        "m",
        "cu cm",
        "cu m",
        "liters",
        "fluid ounce",
        "radians",
        "steradians",
        "revolutions",
        "cycles",
        "gravities",
        "ounce",
        "pound",
        "ft-lb",
        "oz-in",
        "gauss",
        "gilberts",
        "henry",
        "millihenry",
        "farad",
        "microfarad",
        "ohms",
        "siemens",
        "mole",
        "becquerel",
        "PPM",
        "reserved",
        "Decibels",
        "DbA",
        "DbC",
        "gray",
        "sievert",
        "color temp deg K",
        "bit",
        "kilobit",
        "megabit",
        "gigabit",
        "byte",
        "kilobyte",
        "megabyte",
        "gigabyte",
        "word",
        "dword",
        "qword",
        "line",
        "hit",
        "miss",
        "retry",
        "reset",
        "overflow",
        "underrun",
        "collision",
        "packets",
        "messages",
        "characters",
        "error",
        "correctable error",
        "uncorrectable error",
        "fatal error",
        "grams",
    ];
    NAMES.get(usize::from(u)).copied().unwrap_or("unknown")
}

/// SDR cache validity key: the repository's most-recent addition and erase
/// timestamps (IPMI v2.0 section 33.9). Equal keys mean the cached records are still valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SdrCacheKey {
    pub last_addition: u32,
    pub last_erase: u32,
    pub entries: u16,
}

/// Cached decoded SDRs.
#[derive(Debug, Clone, Default)]
pub struct SdrCache {
    pub key: Option<SdrCacheKey>,
    pub records: Vec<Sdr>,
}

impl SdrCache {
    pub fn valid_for(&self, key: &SdrCacheKey) -> bool {
        self.key.as_ref() == Some(key)
    }
}

/// Chunk-size policy for partial Get SDR reads: start at the configured size
/// and shrink when the BMC says it cannot return that many bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkPolicy {
    pub size: u8,
}

impl ChunkPolicy {
    pub const MIN: u8 = 4;

    pub fn new(size: u8) -> Self {
        ChunkPolicy {
            size: size.clamp(Self::MIN, 0xFE),
        }
    }

    /// Shrink after 0xCA/0xFF. Returns false when already at the minimum.
    pub fn shrink(&mut self) -> bool {
        if self.size <= Self::MIN {
            return false;
        }
        // ipmitool steps down through 16/8/4-ish sizes; halving converges quickly.
        self.size = (self.size / 2).max(Self::MIN);
        true
    }
}
