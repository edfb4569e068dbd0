//! OpenSlide-compatible property names and number formatting.

use std::collections::BTreeMap;

use crate::tiff::{Directory, tag};

/// Format a double as OpenSlide does (glib's `g_ascii_dtostr`: C's `%.17g`).
pub fn format_double(v: f64) -> String {
    format_g(v, 17)
}

/// C's `%.{prec}g`.
pub fn format_g(v: f64, prec: usize) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    if v == 0.0 {
        return "0".into();
    }
    let sci = format!("{:.*e}", prec.saturating_sub(1), v);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if exp < -4 || exp >= prec as i32 {
        let m = trim_zeros(mantissa);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{m}e{sign}{:02}", exp.abs())
    } else {
        let decimals = (prec as i32 - 1 - exp).max(0) as usize;
        trim_zeros(&format!("{v:.decimals$}")).to_string()
    }
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// The `tiff.*` properties and `openslide.comment` OpenSlide derives from a directory.
pub fn tiff_properties(dir: &Directory, props: &mut BTreeMap<String, String>) {
    for (t, s) in &dir.strings {
        if let Some(name) = Directory::property_name(*t) {
            props.insert(name.to_string(), s.clone());
        }
        if *t == tag::IMAGE_DESCRIPTION {
            props.insert("openslide.comment".into(), s.clone());
        }
    }
    for (t, f) in &dir.rationals {
        if let Some(name) = Directory::property_name(*t) {
            props.insert(name.to_string(), format_double(*f));
        }
    }
    let unit = match dir.resolution_unit.unwrap_or(2) {
        1 => "none",
        3 => "centimeter",
        _ => "inch",
    };
    props.insert("tiff.ResolutionUnit".into(), unit.into());
}

/// `openslide.mpp-x/-y` from the resolution tags, when the unit is centimetres or inches
/// (libtiff's default unit).
pub fn resolution_mpp(dir: &Directory, props: &mut BTreeMap<String, String>) {
    let microns_per_unit = match dir.resolution_unit.unwrap_or(2) {
        2 => 25400.0,
        3 => 10000.0,
        _ => return,
    };
    for (t, name) in [
        (tag::X_RESOLUTION, "openslide.mpp-x"),
        (tag::Y_RESOLUTION, "openslide.mpp-y"),
    ] {
        if let Some((_, res)) = dir.rationals.iter().find(|(tt, _)| *tt == t)
            && *res > 0.0
        {
            props.insert(name.into(), format_double(microns_per_unit / res));
        }
    }
}

/// Aperio's `key = value` pairs after the first `|` of the ImageDescription, as `aperio.key`,
/// and the standard properties derived from them.
pub fn aperio_properties(description: &str, props: &mut BTreeMap<String, String>) {
    for field in description.split('|').skip(1) {
        if let Some((k, v)) = field.split_once(" = ") {
            props.insert(format!("aperio.{}", k.trim()), v.trim().to_string());
        }
    }
    let mut copy_double = |from: &str, to: &str| {
        if let Some(v) = props.get(from).and_then(|v| v.parse::<f64>().ok()) {
            props.insert(to.to_string(), format_double(v));
        }
    };
    copy_double("aperio.MPP", "openslide.mpp-x");
    copy_double("aperio.MPP", "openslide.mpp-y");
    if let Some(v) = props.get("aperio.AppMag").cloned() {
        props.insert("openslide.objective-power".into(), v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_print_like_openslide() {
        assert_eq!(format_double(0.499), "0.499");
        assert_eq!(format_double(1.0), "1");
        assert_eq!(format_double(0.5021), "0.50209999999999999");
        assert_eq!(format_double(0.4), "0.40000000000000002");
        assert_eq!(format_double(4.016129032258064), "4.0161290322580641");
        assert_eq!(
            format_double(f64::from(28.346_457_f32)),
            "28.346456527709961"
        );
        assert_eq!(
            format_double(10000.0 / f64::from(28.346_457_f32)),
            "352.77777983377013"
        );
        assert_eq!(format_g(1e-7, 15), "1e-07");
        assert_eq!(format_g(123456.0, 3), "1.23e+05");
    }

    #[test]
    fn aperio_description_fields() {
        let mut p = BTreeMap::new();
        aperio_properties(
            "Aperio Image Library v11.2.1 \r\n46000x32914 [0,0 1x1] (240x240) JPEG/RGB Q=30;x|AppMag = 20|MPP = 0.4990|Focus Offset = 0.000000",
            &mut p,
        );
        assert_eq!(p["aperio.AppMag"], "20");
        assert_eq!(p["aperio.Focus Offset"], "0.000000");
        assert_eq!(p["openslide.mpp-x"], "0.499");
        assert_eq!(p["openslide.objective-power"], "20");
    }
}

/// `openslide.mpp-x/-y` from the first `<Pixels>` of OME-XML (`PhysicalSizeX/Y`, in µm unless
/// `PhysicalSizeXUnit` says nm, mm or cm).
pub fn ome_mpp(xml: &str, props: &mut BTreeMap<String, String>) {
    let Some(start) = xml.find("<Pixels ") else {
        return;
    };
    let tag = &xml[start..];
    let tag = &tag[..tag.find('>').unwrap_or(tag.len())];
    let attr = |name: &str| -> Option<&str> {
        let key = format!(" {name}=\"");
        let i = tag.find(&key)? + key.len();
        Some(&tag[i..i + tag[i..].find('"')?])
    };
    for (axis, prop) in [("X", "openslide.mpp-x"), ("Y", "openslide.mpp-y")] {
        let Some(v) = attr(&format!("PhysicalSize{axis}")).and_then(|v| v.parse::<f64>().ok())
        else {
            continue;
        };
        let scale = match attr(&format!("PhysicalSize{axis}Unit")).unwrap_or("µm") {
            "µm" | "um" | "\u{3bc}m" => 1.0,
            "nm" => 1e-3,
            "mm" => 1e3,
            "cm" => 1e4,
            _ => continue,
        };
        if v > 0.0 {
            props.insert(prop.into(), format_double(v * scale));
        }
    }
}

#[cfg(test)]
mod ome_tests {
    use super::*;

    #[test]
    fn ome_physical_size_becomes_mpp() {
        let mut p = BTreeMap::new();
        ome_mpp(
            r#"<OME><Image><Pixels ID="Pixels:0" PhysicalSizeX="0.25" PhysicalSizeY="250" PhysicalSizeYUnit="nm" SizeX="10"></Pixels></Image></OME>"#,
            &mut p,
        );
        assert_eq!(p["openslide.mpp-x"], "0.25");
        assert_eq!(p["openslide.mpp-y"], "0.25");
    }
}
