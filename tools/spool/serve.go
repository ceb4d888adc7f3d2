package main

import (
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"spool/broker"
)

// serve runs the broker until SIGTERM or SIGINT, then shuts down cleanly:
// listeners first, then every log is sealed and marked clean (the next
// start skips recovery), then the shards stop.
func serve(args []string) error {
	props, err := broker.LoadProperties(args)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	b, err := broker.Start(props, logger)
	if err != nil {
		return err
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	select {
	case sig := <-stop:
		logger.Info("shutting down", "signal", sig.String())
	case err := <-b.Served():
		logger.Error("kafka listener stopped", "error", err)
	}
	if err := b.Close(); err != nil {
		return err
	}
	logger.Info("clean shutdown")
	return nil
}
