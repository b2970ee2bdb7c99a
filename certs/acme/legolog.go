package acme

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"

	legolog "github.com/go-acme/lego/v4/log"
)

var legoLogOnce sync.Once

// routeLegoLog sends lego's log lines (a process-wide logger) to
// slog.Default() at debug level: the manager's own log says what matters,
// lego's lines are detail. slog.Default() rather than a Manager's logger
// because lego has one logger for every Manager of the process.
func routeLegoLog() {
	legoLogOnce.Do(func() { legolog.Logger = legoLogger{} })
}

type legoLogger struct{}

func (legoLogger) log(level slog.Level, msg string) {
	slog.Default().Log(context.Background(), level, strings.TrimSpace(msg), "source", "lego")
}

func (l legoLogger) Print(args ...any)   { l.log(slog.LevelDebug, fmt.Sprint(args...)) }
func (l legoLogger) Println(args ...any) { l.log(slog.LevelDebug, fmt.Sprintln(args...)) }
func (l legoLogger) Printf(format string, args ...any) {
	l.log(slog.LevelDebug, fmt.Sprintf(format, args...))
}

// lego's library code does not call Fatal; keep its meaning if it ever does.
func (l legoLogger) Fatal(args ...any) { l.log(slog.LevelError, fmt.Sprint(args...)); os.Exit(1) }
func (l legoLogger) Fatalln(args ...any) {
	l.log(slog.LevelError, fmt.Sprintln(args...))
	os.Exit(1)
}
func (l legoLogger) Fatalf(format string, args ...any) {
	l.log(slog.LevelError, fmt.Sprintf(format, args...))
	os.Exit(1)
}
