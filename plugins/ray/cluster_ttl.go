package ray

import (
	"github.com/flyte-admission/flyte-admission/config"
	flyteplugins "github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/plugins"
)

// Invariant: a RayJob whose cluster is kept after the job finishes has no
// TTL.
//
// Flyte 1.16.8 takes shutdownAfterJobFinishes and ttlSecondsAfterFinished
// from the task when it asks for shutdown and from plugins.ray otherwise, so
// `shutdownAfterJobFinishes: false` keeps the configured TTL (3600 by
// default). KubeRay 1.6 refuses that combination
// (controllers/ray/utils/validation.go, validateDeletionConfiguration: "a
// RayJob with shutdownAfterJobFinishes set to false cannot have
// TTLSecondsAfterFinished") and marks the job ValidationFailed. The expansion
// drops the TTL when the cluster is kept (jobLifetime); the check is
// KubeRay's own ValidateRayJobSpec (kuberay_validation.go).

// jobLifetime returns shutdownAfterJobFinishes and ttlSecondsAfterFinished
// for job: Flyte's choice, without a TTL when the cluster is kept.
func jobLifetime(job *flyteplugins.RayJob, cfg *config.Ray) (shutdown bool, ttl int32) {
	shutdown, ttl = cfg.ShutdownAfterJobFinishes, cfg.TTLSecondsAfterFinished
	if job.GetShutdownAfterJobFinishes() {
		shutdown, ttl = true, job.GetTtlSecondsAfterFinished()
	}
	if !shutdown {
		ttl = 0
	}
	return shutdown, ttl
}
