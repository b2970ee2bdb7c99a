package metrics

import (
	"strconv"
	"testing"
)

func TestStatusClass(t *testing.T) {
	for code := -1; code < 700; code++ {
		want := "other"
		if code >= 100 && code < 600 {
			want = strconv.Itoa(code/100) + "xx"
		}
		if got := StatusClass(code); got != want {
			t.Errorf("StatusClass(%d) = %q, want %q", code, got, want)
		}
	}
}
