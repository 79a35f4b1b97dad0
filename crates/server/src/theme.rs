//! How the hosted sign-in pages look: the product name, a logo and an accent colour from
//! configuration, checked so that nothing configured can break out of the stylesheet or a
//! page, and the stylesheet built from them.

/// How the pages look, from configuration.
#[derive(Debug, Clone)]
pub struct Theme {
    /// The name at the top of every page.
    pub product_name: String,
    /// A logo, by `https://` URL or a `data:image/` URI.
    pub logo_url: Option<String>,
    /// The accent colour (`#rrggbb`).
    pub accent_color: String,
}

impl Default for Theme {
    fn default() -> Self {
        Self {
            product_name: "Warden".into(),
            logo_url: None,
            accent_color: "#1f4fd1".into(),
        }
    }
}

impl Theme {
    /// Checks the configured values: a colour is `#rrggbb` (nothing else reaches the
    /// stylesheet), a logo is an `https://` or `data:image/` URL.
    pub fn read(
        product_name: Option<String>,
        logo_url: Option<String>,
        accent_color: Option<String>,
    ) -> Result<Self, String> {
        let mut theme = Self::default();
        if let Some(name) = product_name.filter(|n| !n.trim().is_empty()) {
            if name.chars().count() > 60 || name.chars().any(char::is_control) {
                return Err("sign_in_product_name must be at most 60 printable characters".into());
            }
            theme.product_name = name.trim().to_owned();
        }
        if let Some(logo) = logo_url.filter(|l| !l.is_empty()) {
            if !(logo.starts_with("https://") || logo.starts_with("data:image/"))
                || logo.chars().any(|c| c.is_whitespace() || c.is_control())
            {
                return Err("sign_in_logo_url must be an https:// URL or a data:image/ URI".into());
            }
            theme.logo_url = Some(logo);
        }
        if let Some(color) = accent_color.filter(|c| !c.is_empty()) {
            let hex = color.strip_prefix('#').unwrap_or("");
            if hex.len() != 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err("sign_in_accent_color must be a colour like #1f4fd1".into());
            }
            theme.accent_color = color.to_ascii_lowercase();
        }
        Ok(theme)
    }

    /// The stylesheet: large targets, visible focus, WCAG AA contrast for text on white and
    /// for white on the accent (a light accent gets dark button text instead).
    pub fn stylesheet(&self) -> String {
        let accent = &self.accent_color;
        let on_accent = if luminance(accent) > 0.18 {
            "#111111"
        } else {
            "#ffffff"
        };
        format!(
            ":root {{ --accent: {accent}; --on-accent: {on_accent}; }}\n{}",
            include_str!("signin/templates/pages.css")
        )
    }
}

/// The relative luminance of `#rrggbb` (WCAG 2.1).
fn luminance(color: &str) -> f64 {
    let hex = color.trim_start_matches('#');
    let channel = |at: usize| {
        let value =
            f64::from(u8::from_str_radix(hex.get(at..at + 2).unwrap_or("00"), 16).unwrap_or(0))
                / 255.0;
        if value <= 0.039_28 {
            value / 12.92
        } else {
            ((value + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * channel(0) + 0.7152 * channel(2) + 0.0722 * channel(4)
}
