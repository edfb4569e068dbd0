//! Plugin jobs over a whole image set (issue 16): one job per image in one atomic batch,
//! cancelled and resumed together; the set's readers only.

use crate::common::{Backend, World};
use crate::per_backend;
use exact_core::ErrorKind;
use exact_core::catalog::{JobState, ModelAllowlist, NewImage};
use exact_core::wire::Obj;

fn one_job_per_image_cancelled_and_resumed_together(b: Backend) {
    let w = World::new(b);
    let a = w.actor(&w.admin);
    let second =
        w.c.images()
            .add(&a, NewImage::new(w.set.id, "second.svs", 1000, 800))
            .unwrap();
    let p = w.c.processing();
    let body = serde_json::json!({"name": "p", "products": [w.product.id.0]});
    let plugin = p
        .create_plugin(
            &a,
            &Obj::of(body, "body").unwrap(),
            "",
            &ModelAllowlist::default(),
        )
        .unwrap();
    let jobs = p.create_set_jobs(&a, plugin.id, w.set.id).unwrap();
    let mut images: Vec<_> = jobs.iter().map(|j| j.image).collect();
    images.sort();
    assert_eq!(images, vec![w.image.id, second.id]);
    assert!(
        jobs.iter()
            .all(|j| j.state == JobState::Queued && j.region.is_none())
    );

    // One already done is left alone by cancel and resume.
    let done = jobs[0].id;
    p.advance_job(
        done,
        &[JobState::Queued],
        exact_core::catalog::JobProgress {
            state: Some(JobState::Done),
            ..Default::default()
        },
    )
    .unwrap();
    let cancelled = p.set_jobs_state(&a, w.set.id, None, true).unwrap();
    assert_eq!(cancelled.len(), 1);
    assert_eq!(p.job_state(jobs[1].id).unwrap(), JobState::Cancelled);
    let resumed = p
        .set_jobs_state(&a, w.set.id, Some(plugin.id), false)
        .unwrap();
    assert_eq!(resumed.len(), 1);
    assert_eq!(p.job_state(jobs[1].id).unwrap(), JobState::Queued);
    assert_eq!(p.job_state(done).unwrap(), JobState::Done);

    // Another team's admin sees no such set: nothing is created.
    let o = w.actor(&w.other_admin);
    let before = p.jobs(&a).unwrap().len();
    let e = p.create_set_jobs(&o, plugin.id, w.set.id).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    let e = p.set_jobs_state(&o, w.set.id, None, true).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert_eq!(p.jobs(&a).unwrap().len(), before);
}

per_backend!(one_job_per_image_cancelled_and_resumed_together);
