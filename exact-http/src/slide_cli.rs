//! `exact slide …`: look at slides from the command line (a local path or a URL such as
//! `s3://bucket/case1.svs`), through the same engine the server uses.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Subcommand;
use exact_tiles::objects::{CountingStore, object_from_url};
use exact_tiles::{DeepZoomGenerator, DeepZoomOptions, Slide};

/// Slide subcommands.
#[derive(Debug, Subcommand)]
pub enum SlideCommand {
    /// Vendor, levels, tile sizes, compression, mpp, properties and associated images.
    Info {
        /// A local path or URL (file://, s3://).
        slide: String,
        #[command(flatten)]
        plane: PlaneArgs,
        /// Print JSON (level_count, dimensions, level_dimensions, level_downsamples, properties …).
        #[arg(long)]
        json: bool,
        /// Report storage requests and bytes (to stderr, or in the JSON).
        #[arg(long)]
        stats: bool,
    },
    /// Write one Deep Zoom tile, addressed as LEVEL COL ROW: JPEG, or the rendered pixels
    /// losslessly when OUTPUT ends in `.png`.
    Tile {
        /// A local path or URL.
        slide: String,
        #[command(flatten)]
        plane: PlaneArgs,
        /// Deep Zoom level.
        level: usize,
        /// Tile column.
        col: u32,
        /// Tile row.
        row: u32,
        /// Output file.
        #[arg(short, long)]
        output: PathBuf,
        /// Tile size without overlap (OpenSlide's DeepZoomGenerator default).
        #[arg(long, default_value_t = 254)]
        tile_size: u32,
        /// Overlap on interior edges.
        #[arg(long, default_value_t = 1)]
        overlap: u32,
        /// Limit to the slide's bounds.
        #[arg(long)]
        limit_bounds: bool,
        /// The native grid (the file's tile size, overlap 0): native tiles pass through.
        #[arg(long)]
        native: bool,
        /// JPEG quality of rendered tiles.
        #[arg(long, default_value_t = 75)]
        quality: u8,
        /// Report storage requests and bytes to stderr (open and tile separately).
        #[arg(long)]
        stats: bool,
    },
    /// Write the Deep Zoom descriptor (DZI XML) to stdout.
    Dzi {
        /// A local path or URL.
        slide: String,
        #[command(flatten)]
        plane: PlaneArgs,
        /// Tile size without overlap.
        #[arg(long, default_value_t = 254)]
        tile_size: u32,
        /// Overlap on interior edges.
        #[arg(long, default_value_t = 1)]
        overlap: u32,
        /// Limit to the slide's bounds.
        #[arg(long)]
        limit_bounds: bool,
        /// The native grid.
        #[arg(long)]
        native: bool,
        /// Print the geometry as JSON (level_count, level_dimensions, level_tiles, tile_count).
        #[arg(long)]
        json: bool,
    },
    /// Write a region (PNG, RGBA) like OpenSlide's read_region: X Y in level-0 pixels.
    Region {
        /// A local path or URL.
        slide: String,
        #[command(flatten)]
        plane: PlaneArgs,
        /// Left edge, level-0 pixels.
        #[arg(allow_hyphen_values = true)]
        x: i64,
        /// Top edge, level-0 pixels.
        #[arg(allow_hyphen_values = true)]
        y: i64,
        /// Level to read.
        level: usize,
        /// Width at that level.
        width: u32,
        /// Height at that level.
        height: u32,
        /// Write this composited channel's stored samples (0-based) as a 16-bit grey PNG
        /// instead (X Y are then in the level's pixels).
        #[arg(long)]
        channel: Option<usize>,
        /// Output PNG.
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Write a thumbnail (PNG) fitting in SIZE × SIZE, like openslide-python's get_thumbnail.
    Thumbnail {
        /// A local path or URL.
        slide: String,
        #[command(flatten)]
        plane: PlaneArgs,
        /// Largest side.
        #[arg(long, default_value_t = 512)]
        size: u32,
        /// Output PNG.
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Convert a PNG, JPEG, BMP, WebP or TIFF image into a tiled JPEG pyramidal TIFF.
    Convert {
        /// Input image.
        input: PathBuf,
        /// Output TIFF.
        output: PathBuf,
        /// Tile edge (multiple of 16).
        #[arg(long, default_value_t = 256)]
        tile_size: u32,
        /// JPEG quality.
        #[arg(long, default_value_t = 85)]
        quality: u8,
        /// Print no progress.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Copy a slide without its label and macro images (photographs of the glass, often
    /// with the patient's name): their IFDs unlinked and their pixels zeroed, every other
    /// byte kept. SVS and generic TIFF slides; others are refused, naming why.
    Deidentify {
        /// A local path or URL.
        slide: String,
        /// Output file (written beside it first, then renamed: never half-written).
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Write an associated image (label, macro, thumbnail) as PNG.
    Associated {
        /// A local path or URL.
        slide: String,
        #[command(flatten)]
        plane: PlaneArgs,
        /// Image name.
        name: String,
        /// Output PNG.
        #[arg(short, long)]
        output: PathBuf,
    },
}

/// Which plane of a z-stack or time series to read (1-based, as EXACT's URLs).
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct PlaneArgs {
    /// Z plane (1-based).
    #[arg(long, default_value_t = 1)]
    z: u32,
    /// Frame (time point, 1-based).
    #[arg(long, default_value_t = 1)]
    frame: u32,
    /// Image series of a file holding several (OME-TIFF; from 0, as tifffile and Bio-Formats).
    #[arg(long, default_value_t = 0)]
    series: usize,
}

impl PlaneArgs {
    fn pick(self, slide: Slide) -> Result<Arc<Slide>, BoxError> {
        Ok(Arc::new(slide)
            .series(self.series)?
            .plane(self.z, self.frame)?)
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Run a slide subcommand; errors are printed to stderr.
pub fn run(cmd: SlideCommand) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run_async(cmd)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Open `url`, through a [`CountingStore`] when `stats` is set.
async fn open(url: &str, stats: bool) -> Result<(Slide, Option<CountingStore>), BoxError> {
    if !stats {
        return Ok((Slide::open(url).await?, None));
    }
    let (store, path) = object_from_url(url)?;
    let counting = CountingStore::new(store);
    let slide = Slide::open_store(Arc::new(counting.clone()), path).await?;
    Ok((slide, Some(counting)))
}

fn counts_json(c: &CountingStore) -> serde_json::Value {
    let c = c.counts();
    serde_json::json!({"gets": c.gets, "heads": c.heads, "bytes": c.bytes})
}

async fn run_async(cmd: SlideCommand) -> Result<(), BoxError> {
    match cmd {
        SlideCommand::Info {
            slide,
            plane,
            json,
            stats,
        } => {
            let (s, counting) = open(&slide, stats).await?;
            let file = Arc::new(s);
            let top = file.series(plane.series)?;
            let s = top.plane(plane.z, plane.frame)?;
            let mut planes = planes_json(&top, &s, plane).await?;
            planes["series"] = plane.series.into();
            planes["series_count"] = file.series_count().into();
            planes["series_names"] = serde_json::json!(file.series_names());
            if json {
                let mut v = info_json(&s);
                if let (Some(v), Some(p)) = (v.as_object_mut(), planes.as_object()) {
                    v.extend(p.clone());
                }
                if let Some(c) = &counting {
                    v["requests"] = counts_json(c);
                }
                out(&format!("{}\n", serde_json::to_string_pretty(&v)?));
            } else {
                out(&info_text(&s));
                out(&planes_text(&planes));
                if let Some(c) = &counting {
                    eprintln!("requests: {}", counts_json(c));
                }
            }
        }
        SlideCommand::Deidentify { slide, output } => {
            let s = Slide::open(&slide).await?;
            let name = output.file_name().unwrap_or_default().to_string_lossy();
            let tmp = output.with_file_name(format!(".{name}.partial"));
            let written = async {
                let mut w = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
                let plan = s.write_deidentified(&mut w).await?;
                w.into_inner().map_err(|e| e.into_error())?.sync_all()?;
                std::fs::rename(&tmp, &output)?;
                Ok::<_, BoxError>(plan)
            }
            .await;
            let plan = written.inspect_err(|_| {
                let _ = std::fs::remove_file(&tmp);
            })?;
            if plan.removed.is_empty() {
                eprintln!(
                    "no label or macro image: {} is an unchanged copy",
                    output.display()
                );
            } else {
                eprintln!(
                    "{}: took out {} ({} byte ranges changed)",
                    output.display(),
                    plan.removed.join(", "),
                    plan.edits.len()
                );
            }
        }
        SlideCommand::Tile {
            slide,
            level,
            col,
            row,
            output,
            tile_size,
            overlap,
            limit_bounds,
            native,
            quality,
            stats,
            plane,
        } => {
            let (s, counting) = open(&slide, stats).await?;
            let s = plane.pick(s)?;
            let opened = counting.as_ref().map(counts_json);
            if let Some(c) = &counting {
                c.reset();
            }
            let dz = if native {
                DeepZoomGenerator::native(s)?
            } else {
                DeepZoomGenerator::new(
                    s,
                    DeepZoomOptions {
                        tile_size,
                        overlap,
                        limit_bounds,
                        quality,
                    },
                )?
            };
            let png = output
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("png"));
            if png {
                std::fs::write(&output, dz.render(level, col, row).await?.encode_png()?)?;
            } else {
                std::fs::write(&output, dz.tile(level, col, row).await?)?;
            }
            if let (Some(c), Some(opened)) = (&counting, opened) {
                let passthrough = dz.passthrough_source(level, col, row).is_some();
                eprintln!(
                    "{}",
                    serde_json::json!({"open": opened, "tile": counts_json(c), "passthrough": passthrough})
                );
            }
        }
        SlideCommand::Dzi {
            slide,
            tile_size,
            overlap,
            limit_bounds,
            native,
            json,
            plane,
        } => {
            let s = plane.pick(Slide::open(&slide).await?)?;
            let dz = if native {
                DeepZoomGenerator::native(s)?
            } else {
                let opts = DeepZoomOptions {
                    tile_size,
                    overlap,
                    limit_bounds,
                    ..DeepZoomOptions::default()
                };
                DeepZoomGenerator::new(s, opts)?
            };
            let g = dz.geometry();
            if json {
                let v = serde_json::json!({
                    "level_count": g.level_count(),
                    "level_dimensions": g.level_dimensions(),
                    "level_tiles": g.level_tiles(),
                    "tile_count": g.tile_count(),
                    "slide_levels": g.slide_levels(),
                    "dzi": g.dzi("jpeg"),
                });
                out(&format!("{}\n", serde_json::to_string_pretty(&v)?));
            } else {
                out(&format!("{}\n", g.dzi("jpeg")));
            }
        }
        SlideCommand::Region {
            slide,
            x,
            y,
            level,
            width,
            height,
            channel,
            output,
            plane,
        } => {
            let s = plane.pick(Slide::open(&slide).await?)?;
            if let Some(c) = channel {
                let (x, y) = (u64::try_from(x)?, u64::try_from(y)?);
                let v = s.channel_region(c, level, x, y, width, height).await?;
                let png = exact_tiles::image::encode_png_gray16(width, height, &v)?;
                std::fs::write(&output, png)?;
                return Ok(());
            }
            let img = s.read_region(x, y, level, width, height).await?;
            std::fs::write(&output, img.encode_png()?)?;
        }
        SlideCommand::Thumbnail {
            slide,
            size,
            output,
            plane,
        } => {
            let s = plane.pick(Slide::open(&slide).await?)?;
            let img = s.thumbnail(size, size).await?;
            std::fs::write(&output, img.encode_png()?)?;
        }
        SlideCommand::Convert {
            input,
            output,
            tile_size,
            quality,
            quiet,
        } => {
            let opts = exact_tiles::convert::ConvertOptions {
                tile_size,
                quality,
                ..Default::default()
            };
            let summary = tokio::task::spawn_blocking(move || {
                exact_tiles::convert::convert_file(&input, &output, &opts, &mut |p| {
                    if !quiet {
                        eprint!(
                            "\rconverting: {:>3}% ({} / {} rows)",
                            p.rows_done * 100 / p.rows_total.max(1),
                            p.rows_done,
                            p.rows_total
                        );
                    }
                })
            })
            .await??;
            if !quiet {
                eprintln!();
            }
            out(&format!(
                "{:?} -> {} levels {:?}, {} bytes{}\n",
                summary.format,
                summary.levels.len(),
                summary.levels,
                summary.bytes,
                if summary.bigtiff { " (BigTIFF)" } else { "" }
            ));
        }
        SlideCommand::Associated {
            slide,
            name,
            output,
            plane,
        } => {
            let s = plane.pick(Slide::open(&slide).await?)?;
            let img = s.associated_image(&name).await?;
            std::fs::write(&output, img.encode_png()?)?;
        }
    }
    Ok(())
}

fn info_json(s: &Slide) -> serde_json::Value {
    let levels: Vec<_> = s
        .levels()
        .iter()
        .map(|l| {
            serde_json::json!({
                "width": l.width, "height": l.height, "downsample": l.downsample,
                "tile_width": l.tile_width, "tile_height": l.tile_height,
                "tiles_across": l.tiles_across, "tiles_down": l.tiles_down,
                "compression": exact_tiles::tiff::compression_name(l.compression),
                "passthrough": l.is_passthrough(),
            })
        })
        .collect();
    let (w, h) = s.dimensions();
    serde_json::json!({
        "vendor": s.vendor(),
        "reader": s.reader(),
        "level_count": s.level_count(),
        "dimensions": [w, h],
        "level_dimensions": s.level_dimensions().iter().map(|&(w, h)| [w, h]).collect::<Vec<_>>(),
        "level_downsamples": s.level_downsamples(),
        "levels": levels,
        "mpp": [s.properties().get("openslide.mpp-x").and_then(|v| v.parse::<f64>().ok()),
                s.properties().get("openslide.mpp-y").and_then(|v| v.parse::<f64>().ok())],
        "properties": s.properties(),
        "associated_images": s.associated_image_names(),
        "files": s.files(),
    })
}

/// Depth, frames, the plane shown and the composited channels (name, colour, bits, display
/// range), as `exact slide info` reports them.
async fn planes_json(
    top: &Slide,
    s: &Slide,
    plane: PlaneArgs,
) -> Result<serde_json::Value, BoxError> {
    let ranges = s.display_ranges().await?;
    let channels: Vec<_> = s
        .channels()
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let [r, g, b] = c.color;
            serde_json::json!({
                "name": c.name, "color": format!("#{r:02x}{g:02x}{b:02x}"), "bits": c.bits,
                "display_range": ranges.get(i).map(|&(lo, hi)| [lo, hi]),
            })
        })
        .collect();
    let names = top.plane_names();
    Ok(serde_json::json!({
        "depth": top.depth(),
        "frames": top.frames(),
        "plane": {"z": plane.z, "frame": plane.frame},
        "z_names": names.z,
        "frame_names": names.frames,
        "channel_count": if channels.is_empty() { 3 } else { channels.len() },
        "channels": channels,
    }))
}

fn planes_text(p: &serde_json::Value) -> String {
    let mut o = String::new();
    if p["series_count"].as_u64().is_some_and(|n| n > 1) {
        o.push_str(&format!(
            "series:      {} of {} (from 0)\n",
            p["series"], p["series_count"]
        ));
        for (i, n) in p["series_names"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            if let Some(n) = n.as_str() {
                o.push_str(&format!("  series {i}: {n}\n"));
            }
        }
    }
    o.push_str(&format!(
        "planes:      depth {} x frames {} (showing z {} frame {})\n",
        p["depth"], p["frames"], p["plane"]["z"], p["plane"]["frame"]
    ));
    for (axis, key) in [("z", "z_names"), ("frame", "frame_names")] {
        for (i, n) in p[key].as_array().into_iter().flatten().enumerate() {
            if let Some(n) = n.as_str() {
                o.push_str(&format!("  {axis} {}: {n}\n", i + 1));
            }
        }
    }
    for (i, c) in p["channels"].as_array().into_iter().flatten().enumerate() {
        o.push_str(&format!(
            "  channel {i}: {} {} {}-bit range {}\n",
            c["name"].as_str().unwrap_or("-"),
            c["color"].as_str().unwrap_or("-"),
            c["bits"],
            c["display_range"]
        ));
    }
    o
}

/// Write to stdout, ignoring a closed pipe (`exact slide info x | head`).
fn out(text: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let _ = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush());
}

fn info_text(s: &Slide) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    let (w, h) = s.dimensions();
    let _ = writeln!(o, "slide:       {}", s.name());
    let _ = writeln!(o, "vendor:      {}", s.vendor());
    let _ = writeln!(o, "reader:      {}", s.reader());
    let files = s.files();
    if files.len() > 1 {
        let _ = writeln!(o, "files:       {} (the opened one first)", files.len());
        for f in &files {
            let _ = writeln!(o, "  {f}");
        }
    }
    let _ = writeln!(o, "dimensions:  {w} x {h}");
    if let (Some(x), Some(y)) = (
        s.properties().get("openslide.mpp-x"),
        s.properties().get("openslide.mpp-y"),
    ) {
        let _ = writeln!(o, "mpp:         {x} x {y}");
    }
    let _ = writeln!(o, "levels:      {}", s.level_count());
    for (i, l) in s.levels().iter().enumerate() {
        let _ = writeln!(
            o,
            "  [{i}] {:>7} x {:<7} downsample {:<10} tiles {}x{} ({} x {}) {}{}",
            l.width,
            l.height,
            exact_tiles::slide::format_g(l.downsample, 6),
            l.tile_width,
            l.tile_height,
            l.tiles_across,
            l.tiles_down,
            exact_tiles::tiff::compression_name(l.compression),
            if l.is_passthrough() {
                ", passthrough"
            } else {
                ""
            }
        );
    }
    let assoc = s.associated_image_names();
    if !assoc.is_empty() {
        let _ = writeln!(o, "associated:  {}", assoc.join(", "));
    }
    let _ = writeln!(o, "properties:");
    for (k, v) in s.properties() {
        let v = v.replace('\r', "\\r").replace('\n', "\\n");
        let _ = writeln!(o, "  {k} = {v}");
    }
    o
}
