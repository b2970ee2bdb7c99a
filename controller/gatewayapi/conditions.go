package gatewayapi

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// epoch is the LastTransitionTime of every condition this package produces.
// Translation is a pure function without a clock; the status writer compares
// conditions by type/status/reason/message and stamps the real time when it
// writes a changed condition.
var epoch = metav1.NewTime(time.Unix(0, 0).UTC())

// cond builds a condition with the fixed epoch timestamp.
func cond[T, R ~string](typ T, ok bool, reason R, message string, generation int64) metav1.Condition {
	status := metav1.ConditionFalse
	if ok {
		status = metav1.ConditionTrue
	}
	return metav1.Condition{
		Type:               string(typ),
		Status:             status,
		ObservedGeneration: generation,
		LastTransitionTime: epoch,
		Reason:             string(reason),
		Message:            message,
	}
}

// problem is a reason plus a message naming the offending field. The zero
// value means "no problem".
type problem struct {
	reason  string
	message string
}

func (p problem) ok() bool { return p.reason == "" }
