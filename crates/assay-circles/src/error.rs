//! The one error type of the crate, with stable codes and HTTP statuses for the service edge.

/// Everything that can stop a decode, a detection or an annotation. Messages are whole
/// sentences that name the bad value and, where there is a choice, the valid options.
/// None of these errors goes away on retry: the same bytes and options fail the same way.
#[derive(Debug, thiserror::Error)]
pub enum CirclesError {
    #[error("The image is {size} bytes, over the limit of {limit} bytes; send a smaller file or raise max_bytes.")]
    TooLarge { size: u64, limit: u64 },

    #[error("The image is {width}x{height} pixels, over the limits of {max_width}x{max_height} pixels and {max_pixels} pixels in all; send a smaller image.")]
    DimensionsExceeded {
        width: u32,
        height: u32,
        max_width: u32,
        max_height: u32,
        max_pixels: u64,
    },

    #[error("The image file is empty; send a PNG, JPEG, WebP, BMP or GIF file.")]
    Empty,

    #[error("The file is not an image format this service reads ({found}); send a PNG, JPEG, WebP, BMP or GIF file.")]
    UnsupportedFormat { found: String },

    #[error(
        "The {format} image could not be decoded: {reason}. The file may be truncated or damaged."
    )]
    Corrupt {
        format: &'static str,
        reason: String,
    },

    #[error("Decoding the {format} image would need more memory than allowed ({reason}); send a smaller image.")]
    MemoryExceeded {
        format: &'static str,
        reason: String,
    },

    #[error("The option {option} = {value} is not valid; {expected}.")]
    InvalidOption {
        option: &'static str,
        value: String,
        expected: String,
    },

    #[error("The annotated image could not be encoded as PNG: {reason}; this is a bug in assay-circles.")]
    Encode { reason: String },
}

impl CirclesError {
    /// A stable snake_case code that clients can match on.
    pub fn code(&self) -> &'static str {
        match self {
            CirclesError::TooLarge { .. } => "image_too_large",
            CirclesError::DimensionsExceeded { .. } => "image_dimensions_exceeded",
            CirclesError::Empty => "empty_image",
            CirclesError::UnsupportedFormat { .. } => "unsupported_image_format",
            CirclesError::Corrupt { .. } => "corrupt_image",
            CirclesError::MemoryExceeded { .. } => "image_memory_exceeded",
            CirclesError::InvalidOption { .. } => "invalid_option",
            CirclesError::Encode { .. } => "annotate_failed",
        }
    }

    /// The HTTP status the service answers with: 413 for size, 422 for content and options,
    /// 500 for our own failures.
    pub fn http_status(&self) -> u16 {
        match self {
            CirclesError::TooLarge { .. } => 413,
            CirclesError::Encode { .. } => 500,
            _ => 422,
        }
    }
}
