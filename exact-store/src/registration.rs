//! Automatic image registration (EXACT's `register_images`): the permission check and the
//! storing live in [`exact_core::catalog::Registrations`]; this reads both slides' pixels and
//! runs the estimate of [`exact_tiles::register`] between them.

use crate::Exact;
use crate::pixels::slide_error;
use exact_core::catalog::NewRegistration;
use exact_core::model::{Homography, ImageRegistration};
use exact_core::permissions::Actor;
use exact_core::{Error, ImageId, Result};
pub use exact_tiles::register::{RegisterOptions, Registration};

/// What [`Exact::register_images`] did.
#[derive(Debug, Clone)]
pub struct Registered {
    /// The stored registration of the source onto the target.
    pub registration: ImageRegistration,
    /// `true` when it was created, `false` when an existing one was recomputed.
    pub created: bool,
    /// Patches that agreed with the final fit.
    pub matches: usize,
}

impl Exact {
    /// Estimates the registration of `source` onto `target` from their pixels and stores it
    /// with its error (RMS residual in target level-0 pixels) and runtime (seconds): created,
    /// or replacing the pair's matrix (`Registered::created` false). With `inverse`, the
    /// target → source registration is stored too.
    ///
    /// Errors: as [`exact_core::catalog::Registrations::check_estimate`] (images the actor
    /// cannot read are `NotFound`, different teams or no right to edit the source's set are
    /// refused), `NotReady`/`Unservable` pixels, and `InvalidInput` when the slides cannot be
    /// registered (no tissue, no match, a degenerate result): then nothing is stored.
    pub async fn register_images(
        &self,
        actor: &Actor,
        source: ImageId,
        target: ImageId,
        opts: RegisterOptions,
        inverse: bool,
    ) -> Result<Registered> {
        let (exact, a) = (self.clone(), actor.clone());
        crate::files::blocking(move || {
            exact
                .image_registrations()
                .check_estimate(&a, source, target)
        })
        .await?;
        let (_, s) = self.pixels(actor, source, None).await?;
        let (_, t) = self.pixels(actor, target, None).await?;
        let est = exact_tiles::register::register(s.slide(), t.slide(), opts)
            .await
            .map_err(|e| match e {
                // Named by image id, not by the server's blob keys.
                exact_tiles::Error::InvalidInput { field, reason } => Error::invalid(
                    field,
                    reason
                        .replace(s.slide().name(), &source.to_string())
                        .replace(t.slide().name(), &target.to_string()),
                ),
                e => slide_error(s.slide().name(), e),
            })?;
        let new = NewRegistration {
            source_image: source,
            target_image: target,
            transformation_matrix: Homography(est.matrix),
            registration_error: est.error,
            runtime: est.seconds,
        };
        let (exact, a) = (self.clone(), actor.clone());
        let (registration, created) = crate::files::blocking(move || {
            exact.image_registrations().store_estimate(&a, new, inverse)
        })
        .await?;
        Ok(Registered {
            registration,
            created,
            matches: est.matches,
        })
    }
}
