//! High-level async client: chassis, boot, sensors (SDR walk + readings) and SEL.

use std::time::{Duration, Instant};

use tracing::{debug, warn};

use crate::commands::{app, chassis, sensor, storage};
use crate::crypto::{Algorithms, CipherSuite};
use crate::error::{CompletionCode, IpmiError, Result};
use crate::sdr::{self, ChunkPolicy, Sdr, SdrCache, SdrCacheKey, SensorRecord, SDR_HEADER_LEN};
use crate::sel::SelEntry;
use crate::session::{IpmiConfig, Session};

pub use crate::commands::app::DeviceId;
pub use crate::commands::chassis::{
    BootDevice, BootFlags, BootOptions, ChassisControl, ChassisStatus,
};
pub use crate::commands::sensor::ThresholdBits;
pub use crate::commands::storage::RepositoryInfo;

/// Thresholds converted to sensor units; `None` when not readable.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Thresholds {
    pub lnr: Option<f64>,
    pub lcr: Option<f64>,
    pub lnc: Option<f64>,
    pub unc: Option<f64>,
    pub ucr: Option<f64>,
    pub unr: Option<f64>,
}

/// Status bits of one reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SensorStatus {
    /// False when the BMC says "reading unavailable" or the read failed.
    pub available: bool,
    pub scanning_enabled: bool,
    pub event_messages_enabled: bool,
    /// Threshold sensors: which thresholds the reading is at or beyond.
    pub crossed: ThresholdBits,
    /// Discrete sensors: asserted state bits 0..14.
    pub discrete_state: u16,
}

impl SensorStatus {
    /// ipmitool's short status: `ns`, `nr`, `cr`, `nc` or `ok`.
    pub fn short(&self) -> &'static str {
        let c = self.crossed;
        if !self.available || !self.scanning_enabled {
            "ns"
        } else if c.has(ThresholdBits::UNR) || c.has(ThresholdBits::LNR) {
            "nr"
        } else if c.has(ThresholdBits::UCR) || c.has(ThresholdBits::LCR) {
            "cr"
        } else if c.has(ThresholdBits::UNC) || c.has(ThresholdBits::LNC) {
            "nc"
        } else {
            "ok"
        }
    }
}

/// One sensor's decoded reading.
#[derive(Debug, Clone, PartialEq)]
pub struct SensorReading {
    pub name: String,
    pub number: u8,
    pub sensor_type: u8,
    pub sensor_type_name: &'static str,
    pub unit: String,
    /// Converted value; `None` for discrete sensors or unavailable readings.
    pub value: Option<f64>,
    pub raw: Option<u8>,
    pub thresholds: Thresholds,
    pub status: SensorStatus,
}

/// Async IPMI 2.0 lanplus client for one BMC. Methods take `&mut self`: a
/// BMC is driven by one operation at a time (docs/bmc.md#power-actions-and-spacing).
#[derive(Debug)]
pub struct IpmiClient {
    session: Session,
    sdr_chunk: ChunkPolicy,
    sdr_cache: SdrCache,
}

/// Re-reservations allowed per SDR record before giving up (0xC5 storms).
const MAX_RESERVATION_RETRIES: u32 = 8;
/// Upper bound on records walked, so a BMC with a cyclic next-id list ends.
const MAX_SDR_RECORDS: usize = 4096;

impl IpmiClient {
    pub async fn connect(cfg: IpmiConfig) -> Result<IpmiClient> {
        let session = Session::open(&cfg).await?;
        Ok(IpmiClient {
            session,
            sdr_chunk: ChunkPolicy::new(cfg.sdr_chunk_size),
            sdr_cache: SdrCache::default(),
        })
    }

    /// The cipher suite whose proposal the BMC accepted.
    pub fn cipher_suite(&self) -> CipherSuite {
        self.session.cipher_suite()
    }

    /// The algorithms the BMC chose (may differ from the suite's).
    pub fn algorithms(&self) -> Algorithms {
        self.session.algorithms()
    }

    /// Send an arbitrary request (netfn, cmd, data); returns data after the
    /// completion code.
    pub async fn raw(&mut self, netfn: u8, cmd: u8, data: &[u8]) -> Result<Vec<u8>> {
        self.session
            .request(&crate::packet::IpmiRequest::new(netfn, cmd, data.to_vec()))
            .await
    }

    pub async fn device_id(&mut self) -> Result<DeviceId> {
        let d = self.session.request(&app::get_device_id()).await?;
        Ok(DeviceId::decode(&d)?)
    }

    pub async fn chassis_status(&mut self) -> Result<ChassisStatus> {
        let d = self.session.request(&chassis::get_chassis_status()).await?;
        Ok(ChassisStatus::decode(&d)?)
    }

    pub async fn chassis_control(&mut self, op: ChassisControl) -> Result<()> {
        self.session.request(&chassis::chassis_control(op)).await?;
        Ok(())
    }

    pub async fn set_boot_device(&mut self, dev: BootDevice, opts: BootOptions) -> Result<()> {
        self.session
            .request(&chassis::set_boot_flags(dev, opts))
            .await?;
        Ok(())
    }

    pub async fn boot_flags(&mut self) -> Result<BootFlags> {
        let d = self.session.request(&chassis::get_boot_flags()).await?;
        Ok(BootFlags::decode(&d)?)
    }

    pub async fn sdr_repository_info(&mut self) -> Result<RepositoryInfo> {
        let d = self
            .session
            .request(&storage::get_sdr_repository_info())
            .await?;
        Ok(RepositoryInfo::decode(&d)?)
    }

    /// All SDRs, from cache when the repository's addition/erase timestamps
    /// are unchanged.
    pub async fn sdrs(&mut self) -> Result<Vec<Sdr>> {
        let info = self.sdr_repository_info().await?;
        let key = SdrCacheKey {
            last_addition: info.last_addition,
            last_erase: info.last_erase,
            entries: info.entries,
        };
        if self.sdr_cache.valid_for(&key) {
            return Ok(self.sdr_cache.records.clone());
        }
        let records = self.walk_sdrs().await?;
        debug!(count = records.len(), "SDR repository read");
        self.sdr_cache = SdrCache {
            key: Some(key),
            records: records.clone(),
        };
        Ok(records)
    }

    async fn reserve_sdr(&mut self) -> Result<u16> {
        let d = self
            .session
            .request(&storage::reserve_sdr_repository())
            .await?;
        Ok(storage::decode_reservation(&d)?)
    }

    /// One partial Get SDR with re-reservation on 0xC5 and chunk shrinking on
    /// 0xCA/0xFF (ipmi_sim and many BMCs refuse large partial reads).
    async fn read_sdr_part(
        &mut self,
        resv: &mut u16,
        resv_retries: &mut u32,
        id: u16,
        offset: u8,
        want: u8,
    ) -> Result<(u16, Vec<u8>)> {
        let mut count = want;
        loop {
            match self
                .session
                .request(&storage::get_sdr(*resv, id, offset, count))
                .await
            {
                Ok(d) => return Ok(storage::decode_record_chunk(&d)?),
                Err(e) => match e.completion_code() {
                    Some(CompletionCode::RESERVATION_CANCELLED) => {
                        *resv_retries += 1;
                        if *resv_retries > MAX_RESERVATION_RETRIES {
                            return Err(IpmiError::Sdr("reservation repeatedly cancelled".into()));
                        }
                        *resv = self.reserve_sdr().await?;
                    }
                    Some(CompletionCode::CANNOT_RETURN_BYTES)
                    | Some(CompletionCode::UNSPECIFIED) => {
                        if !self.sdr_chunk.shrink() || count <= ChunkPolicy::MIN {
                            return Err(e);
                        }
                        count = count.min(self.sdr_chunk.size);
                        debug!(chunk = count, "BMC refused SDR chunk size, shrinking");
                    }
                    _ => return Err(e),
                },
            }
        }
    }

    async fn walk_sdrs(&mut self) -> Result<Vec<Sdr>> {
        let mut resv = self.reserve_sdr().await?;
        let mut out = Vec::new();
        let mut id = 0u16;
        let mut seen = std::collections::HashSet::new();
        while id != sdr::LAST_RECORD_ID && out.len() < MAX_SDR_RECORDS {
            if !seen.insert(id) {
                warn!(record = id, "SDR next-record chain loops; stopping walk");
                break;
            }
            // The re-reservation budget is per record: long walks on busy BMCs
            // may legitimately see several cancellations in total.
            let mut resv_retries = 0;
            let (next, head) = self
                .read_sdr_part(&mut resv, &mut resv_retries, id, 0, SDR_HEADER_LEN as u8)
                .await?;
            let header = sdr::SdrHeader::decode(&head)?;
            let total = SDR_HEADER_LEN + usize::from(header.body_len);
            // Get SDR's offset field is one byte: longer records are unreadable.
            if total > 0x100 {
                return Err(IpmiError::Sdr(format!(
                    "record {id}: length {total} exceeds 256"
                )));
            }
            let mut rec = head;
            rec.truncate(SDR_HEADER_LEN);
            while rec.len() < total {
                let want = (total - rec.len()).min(usize::from(self.sdr_chunk.size)) as u8;
                let (_, chunk) = self
                    .read_sdr_part(&mut resv, &mut resv_retries, id, rec.len() as u8, want)
                    .await?;
                if chunk.is_empty() {
                    return Err(IpmiError::Sdr(format!("record {id}: empty partial read")));
                }
                rec.extend_from_slice(&chunk);
            }
            rec.truncate(total);
            match sdr::decode_sdr(&rec) {
                Ok(s) => out.push(s),
                // One bad record should not hide all other sensors.
                Err(e) => warn!(record = id, error = %e, "skipping undecodable SDR"),
            }
            id = next;
        }
        Ok(out)
    }

    /// Read one sensor described by `rec` (reading + thresholds).
    pub async fn read_sensor(&mut self, rec: &SensorRecord) -> Result<SensorReading> {
        let mut status = SensorStatus::default();
        let mut value = None;
        let mut raw = None;
        match self
            .session
            .request(&sensor::get_sensor_reading(rec.number, rec.owner_lun))
            .await
        {
            Ok(d) => {
                let r = sensor::RawReading::decode(&d)?;
                status.available = !r.unavailable;
                status.scanning_enabled = r.scanning_enabled;
                status.event_messages_enabled = r.event_messages_enabled;
                if rec.is_threshold() {
                    status.crossed = r.threshold_bits();
                } else {
                    status.discrete_state = r.state;
                }
                if status.available && status.scanning_enabled {
                    raw = Some(r.raw);
                    if rec.is_threshold() {
                        value = rec.conversion.and_then(|c| c.convert(r.raw));
                    }
                }
            }
            // Sensor absent/not readable is a state of the sensor, not a failure.
            Err(e) if e.completion_code().is_some() => {
                debug!(sensor = rec.number, error = %e, "sensor not readable");
            }
            Err(e) => return Err(e),
        }
        let thresholds = if rec.is_threshold() && rec.readable_thresholds != 0 {
            self.thresholds(rec).await?
        } else {
            Thresholds::default()
        };
        Ok(SensorReading {
            name: rec.name.clone(),
            number: rec.number,
            sensor_type: rec.sensor_type,
            sensor_type_name: sdr::sensor_type_name(rec.sensor_type),
            unit: rec.unit_name(),
            value,
            raw,
            thresholds,
            status,
        })
    }

    async fn thresholds(&mut self, rec: &SensorRecord) -> Result<Thresholds> {
        let raw = match self
            .session
            .request(&sensor::get_sensor_thresholds(rec.number, rec.owner_lun))
            .await
        {
            Ok(d) => sensor::RawThresholds::decode(&d)?,
            Err(e) if e.completion_code().is_some() => {
                // Fall back to the SDR's stored thresholds.
                let m = ThresholdBits(rec.readable_thresholds);
                let t = rec.sdr_thresholds.unwrap_or_default();
                let pick = |bit, v| m.has(bit).then_some(v);
                sensor::RawThresholds {
                    unr: pick(ThresholdBits::UNR, t[0]),
                    ucr: pick(ThresholdBits::UCR, t[1]),
                    unc: pick(ThresholdBits::UNC, t[2]),
                    lnr: pick(ThresholdBits::LNR, t[3]),
                    lcr: pick(ThresholdBits::LCR, t[4]),
                    lnc: pick(ThresholdBits::LNC, t[5]),
                }
            }
            Err(e) => return Err(e),
        };
        let conv = |v: Option<u8>| v.and_then(|v| rec.conversion.and_then(|c| c.convert(v)));
        Ok(Thresholds {
            lnr: conv(raw.lnr),
            lcr: conv(raw.lcr),
            lnc: conv(raw.lnc),
            unc: conv(raw.unc),
            ucr: conv(raw.ucr),
            unr: conv(raw.unr),
        })
    }

    /// Sensor records (full and compact) owned by the BMC itself. Sensors owned
    /// by other controllers would need IPMB bridging, which we do not do.
    pub async fn sensor_records(&mut self) -> Result<Vec<SensorRecord>> {
        Ok(self
            .sdrs()
            .await?
            .into_iter()
            .filter_map(|s| match s {
                Sdr::Sensor(r) if r.owner_id == crate::packet::BMC_ADDR => Some(r),
                Sdr::Sensor(r) => {
                    debug!(sensor = %r.name, owner = r.owner_id, "skipping bridged sensor");
                    None
                }
                Sdr::Other { .. } => None,
            })
            .collect())
    }

    /// Read every sensor in the SDR repository.
    pub async fn sensors(&mut self) -> Result<Vec<SensorReading>> {
        let recs = self.sensor_records().await?;
        let mut out = Vec::with_capacity(recs.len());
        for r in &recs {
            out.push(self.read_sensor(r).await?);
        }
        Ok(out)
    }

    /// Time `n` reads of `rec` (reading + thresholds), for comparing against an
    /// `ipmitool` subprocess. Returns the total elapsed time.
    pub async fn time_sensor_reads(&mut self, rec: &SensorRecord, n: u32) -> Result<Duration> {
        let t = Instant::now();
        for _ in 0..n {
            self.read_sensor(rec).await?;
        }
        Ok(t.elapsed())
    }

    pub async fn sel_info(&mut self) -> Result<RepositoryInfo> {
        let d = self.session.request(&storage::get_sel_info()).await?;
        Ok(RepositoryInfo::decode(&d)?)
    }

    /// Walk the SEL from the first record.
    pub async fn sel_entries(&mut self) -> Result<Vec<SelEntry>> {
        let info = self.sel_info().await?;
        let mut out = Vec::new();
        if info.entries == 0 {
            return Ok(out);
        }
        let mut id = 0u16;
        let mut seen = std::collections::HashSet::new();
        while id != sdr::LAST_RECORD_ID && seen.insert(id) && out.len() < 65535 {
            let d = match self.session.request(&storage::get_sel_entry(id)).await {
                Ok(d) => d,
                // Cleared between Get SEL Info and the walk.
                Err(e) if e.completion_code() == Some(CompletionCode::NOT_PRESENT) && id == 0 => {
                    break
                }
                Err(e) => return Err(e),
            };
            let (next, rec) = storage::decode_record_chunk(&d)?;
            out.push(SelEntry::decode(&rec)?);
            id = next;
        }
        Ok(out)
    }

    /// Add a raw 16-byte SEL record; returns the record id the BMC assigned.
    pub async fn add_sel_entry(&mut self, record: &[u8; 16]) -> Result<u16> {
        let d = self
            .session
            .request(&storage::add_sel_entry(record))
            .await?;
        Ok(storage::decode_record_id(&d)?)
    }

    /// Clear the SEL (reserve, initiate erase, poll until complete).
    pub async fn clear_sel(&mut self) -> Result<()> {
        let d = self.session.request(&storage::reserve_sel()).await?;
        let resv = storage::decode_reservation(&d)?;
        let d = self
            .session
            .request(&storage::clear_sel(resv, true))
            .await?;
        if storage::decode_clear_sel(&d)? {
            return Ok(());
        }
        for _ in 0..20 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let d = self
                .session
                .request(&storage::clear_sel(resv, false))
                .await?;
            if storage::decode_clear_sel(&d)? {
                return Ok(());
            }
        }
        Err(IpmiError::Sdr("SEL erase did not complete".into()))
    }

    /// Close the session.
    pub async fn close(mut self) -> Result<()> {
        self.session.close().await
    }
}
