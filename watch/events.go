package watch

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// Event writing: a bounded queue and a few writers. client-go's
// events.k8s.io broadcaster (the manager's recorder) keeps every Event it
// sent for 6-12 minutes, to aggregate repeats into series, and spawns a
// goroutine per Event that waits for the client's rate limiter: with
// thousands of objects reporting at once (a watcher starting on a busy
// cluster) that held ~1.2 KiB per Event plus a blocked goroutine per queued
// Event. Phase transitions never repeat, so there is nothing to aggregate.
const (
	// eventQueue bounds the Events waiting to be written (about 1 KiB
	// each).
	eventQueue = 4096
	// eventQueueWait is how long a reconcile waits for room in a full
	// queue (backpressure: reports slow down to the pace of the Events)
	// before the Event is dropped and counted.
	eventQueueWait = 10 * time.Second
	// eventWriters write Events concurrently (the client's rate limiter,
	// --kube-api-qps, bounds them too).
	eventWriters = 16
	// eventAttempts is how often a write is tried when the apiserver
	// fails transiently.
	eventAttempts = 3
	// eventRetry is the pause between attempts.
	eventRetry = time.Second
	// eventWriteTimeout bounds one write.
	eventWriteTimeout = 10 * time.Second
	// eventDrainTimeout bounds the writing of the queued Events when the
	// watcher stops.
	eventDrainTimeout = 5 * time.Second
)

// eventSink writes the watcher's events.k8s.io/v1 Events. It is a
// leader-election runnable: only the leader reports, so only the leader
// writes.
type eventSink struct {
	client   client.Client
	scheme   *runtime.Scheme
	instance string // reportingInstance
	log      logr.Logger
	queue    chan *eventsv1.Event
}

func newEventSink(mgr manager.Manager, log logr.Logger) *eventSink {
	host, _ := os.Hostname()
	instance := EventSource + "-" + host
	if len(instance) > 128 { // events.k8s.io/v1 limit
		instance = instance[:128]
	}
	return &eventSink{
		client:   mgr.GetClient(),
		scheme:   mgr.GetScheme(),
		instance: instance,
		log:      log.WithName("events"),
		queue:    make(chan *eventsv1.Event, eventQueue),
	}
}

// NeedLeaderElection implements manager.LeaderElectionRunnable.
func (s *eventSink) NeedLeaderElection() bool { return true }

// emit queues an Event about obj; when the queue is full it waits up to
// eventQueueWait, then drops the Event (counted).
func (s *eventSink) emit(obj client.Object, eventType, reason, note string) {
	gvk, err := apiutil.GVKForObject(obj, s.scheme)
	if err != nil {
		s.log.Error(err, "no kind for the Event's object", "object", client.ObjectKeyFromObject(obj).String())
		return
	}
	now := time.Now()
	ev := &eventsv1.Event{
		ObjectMeta: metav1.ObjectMeta{
			Name:      fmt.Sprintf("%s.%x", obj.GetName(), now.UnixNano()),
			Namespace: obj.GetNamespace(),
		},
		EventTime:           metav1.NewMicroTime(now),
		ReportingController: EventSource,
		ReportingInstance:   s.instance,
		Action:              EventAction,
		Reason:              reason,
		Regarding: corev1.ObjectReference{
			APIVersion:      gvk.GroupVersion().String(),
			Kind:            gvk.Kind,
			Namespace:       obj.GetNamespace(),
			Name:            obj.GetName(),
			UID:             obj.GetUID(),
			ResourceVersion: obj.GetResourceVersion(),
		},
		Note: note,
		Type: eventType,
	}
	select {
	case s.queue <- ev:
		return
	default:
	}
	timer := time.NewTimer(eventQueueWait)
	defer timer.Stop()
	select {
	case s.queue <- ev:
	case <-timer.C:
		eventsDropped.Inc()
		s.log.Info("Event queue full: Event dropped", "object", ev.Namespace+"/"+ev.Regarding.Name, "reason", ev.Reason)
	}
}

// Start implements manager.Runnable: it writes queued Events until ctx ends,
// then what is still queued (for at most eventDrainTimeout).
func (s *eventSink) Start(ctx context.Context) error {
	var wg sync.WaitGroup
	for range eventWriters {
		wg.Go(func() {
			for {
				select {
				case ev := <-s.queue:
					s.write(ctx.Done(), ev)
				case <-ctx.Done():
					return
				}
			}
		})
	}
	wg.Wait()
	drain, cancel := context.WithTimeout(context.Background(), eventDrainTimeout)
	defer cancel()
	for drain.Err() == nil {
		select {
		case ev := <-s.queue:
			s.write(drain.Done(), ev)
		default:
			return nil
		}
	}
	eventsDropped.Add(float64(len(s.queue)))
	return nil
}

// write creates ev, trying again after transient failures until stop.
func (s *eventSink) write(stop <-chan struct{}, ev *eventsv1.Event) {
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), eventWriteTimeout)
		err := s.client.Create(ctx, ev.DeepCopy())
		cancel()
		if err == nil || apierrors.IsAlreadyExists(err) {
			return
		}
		permanent := apierrors.IsInvalid(err) || apierrors.IsForbidden(err) || apierrors.IsNotFound(err) || apierrors.IsBadRequest(err)
		if !permanent && attempt < eventAttempts {
			select {
			case <-time.After(eventRetry):
				continue
			case <-stop:
			}
		}
		eventsDropped.Inc()
		s.log.Error(err, "could not write Event", "object", ev.Namespace+"/"+ev.Regarding.Name, "reason", ev.Reason)
		return
	}
}
