package plugins

import (
	"fmt"
	"math"
	"strings"

	"github.com/flyte-admission/flyte-admission/task"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Count is a replica or worker count at a field path: a Spark executor
// count, a Ray worker group's replicas, a Dask job's workers, or the task
// template's numberOfWorkers that becomes one.
type Count struct {
	Path  *field.Path
	Value int64
}

// MaxCount is the largest count the operators' CRDs store (int32).
const MaxCount = math.MaxInt32

// CountError is the one check of every replica and worker count, on every
// kind and in task templates: not negative, and within the CRDs' int32. It
// returns nil for a valid count.
func CountError(c Count) *field.Error {
	switch {
	case ValidCount(c.Value):
		return nil
	case c.Value < 0:
		return field.Invalid(c.Path, c.Value, "must be greater than or equal to 0")
	}
	return field.Invalid(c.Path, c.Value, fmt.Sprintf("must be less than or equal to %d (an int32)", MaxCount))
}

// ValidCount reports whether CountError accepts v: for a caller that builds
// the count's path only for an error.
func ValidCount(v int64) bool { return v >= 0 && v <= MaxCount }

// CountErrors is CountError on each count, in order.
func CountErrors(counts ...Count) field.ErrorList {
	var errs field.ErrorList
	for _, c := range counts {
		if e := CountError(c); e != nil {
			errs = append(errs, e)
		}
	}
	return errs
}

// Int32Count is a count held in an optional int32 field (nil: not written,
// nothing to check; it gives a Count of 0).
func Int32Count(path *field.Path, v *int32) Count {
	if v == nil {
		return Count{Path: path}
	}
	return Count{Path: path, Value: int64(*v)}
}

// TemplateCountError is CountError on a count written in the task template:
// a task.BadSpec error naming its field path there, or nil. The path is
// given in parts, joined only for an error (a valid count, the common case,
// costs no string): such as
// metadata.annotations[flyte.org/task-template].custom.workers.numberOfWorkers
// or a worker group's path and ".replicas".
func TemplateCountError(v int64, path ...string) error {
	if ValidCount(v) {
		return nil
	}
	p := strings.Join(path, "")
	if e := CountError(Count{Path: field.NewPath(p), Value: v}); e != nil {
		return task.BadSpec(p, "%s", e.ErrorBody())
	}
	return nil
}
