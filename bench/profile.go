package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

// profileBytesMax bounds a downloaded profile.
const profileBytesMax = 256 << 20

// startProfile starts capturing the broker's CPU profile at from (run
// time) for the measured duration, into cfg.ProfilePath, when both it and
// cfg.AdminAddr are set. The returned function waits for the capture and
// records its path, or why it failed, in result.
func (r *run) startProfile(ctx context.Context, from time.Duration, result *Result) func() {
	cfg := r.cfg
	if cfg.ProfilePath == "" {
		return func() {}
	}
	if cfg.AdminAddr == "" {
		result.ProfileError = "no admin address for the broker (--admin)"
		return func() {}
	}
	seconds := max(int(cfg.Duration/time.Second), 1)
	done := make(chan error, 1)
	go func() {
		r.clk.SleepUntil(ctx, from)
		url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", cfg.AdminAddr, seconds)
		// The profile's own length plus slack: a broker too busy to answer
		// in that time is itself a finding.
		capture, cancel := context.WithTimeout(context.Background(), time.Duration(seconds)*time.Second+30*time.Second)
		defer cancel()
		done <- CaptureProfile(capture, url, cfg.ProfilePath)
	}()
	var once bool
	return func() {
		if once {
			return
		}
		once = true
		if err := <-done; err != nil {
			result.ProfileError = err.Error()
		} else {
			result.Profile = cfg.ProfilePath
		}
	}
}

// CaptureProfile downloads a pprof profile from url into path.
func CaptureProfile(ctx context.Context, url, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("%s: %s: %s", url, resp.Status, body)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	n, err := io.Copy(f, io.LimitReader(resp.Body, profileBytesMax+1))
	if err == nil && n > profileBytesMax {
		err = fmt.Errorf("%s: profile larger than %d bytes", url, profileBytesMax)
	}
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	return err
}
