// Command ferretdb-test-server runs FerretDB (a MongoDB wire-protocol server) with its SQLite
// backend on a loopback address, for the MongoDB sink's tests. It is a test tool, not a
// deployment: the Go module proxy carries FerretDB only as a library (its `cmd/ferretdb` panics
// when built from the module zip), so this launcher embeds the library.
//
//	ferretdb-test-server -dir DIR [-listen 127.0.0.1:0] [-uri-file FILE]
//
// The listener is bound before anything is printed, so once the URI line (or file) exists the
// server accepts connections. Port 0 lets the kernel pick a free port; pass the printed port
// back with -listen to restart on the same address and the same data directory.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	dir := flag.String("dir", "", "data directory (SQLite databases live in DIR/data)")
	listen := flag.String("listen", "127.0.0.1:0", "loopback host:port to listen on (port 0 = pick a free one)")
	uriFile := flag.String("uri-file", "", "write the mongodb:// URI to this file once listening")
	logLevel := flag.String("log-level", "warn", "debug, info, warn or error")
	flag.Parse()

	if err := run(*dir, *listen, *uriFile, *logLevel); err != nil {
		fmt.Fprintln(os.Stderr, "ferretdb-test-server:", err)
		os.Exit(1)
	}
}

func run(dir, listen, uriFile, logLevel string) error {
	if dir == "" {
		return fmt.Errorf("-dir is required")
	}
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return fmt.Errorf("-listen %q: %w", listen, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("-listen %q: only loopback addresses are allowed (this is a test server)", listen)
	}
	dataDir, err := filepath.Abs(filepath.Join(dir, "data"))
	if err != nil {
		return err
	}
	if err = os.MkdirAll(dataDir, 0o755); err != nil {
		return err
	}
	var level slog.Level
	if err = level.UnmarshalText([]byte(logLevel)); err != nil {
		return fmt.Errorf("-log-level %q: %w", logLevel, err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: listen},
		Logger:    logger,
		Handler:   "sqlite",
		SQLiteURL: "file:" + dataDir + "/",
	})
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	uri := f.MongoDBURI()
	if uriFile != "" {
		// Written via rename so a reader never sees a partial URI.
		tmp := uriFile + ".tmp"
		if err = os.WriteFile(tmp, []byte(uri+"\n"), 0o644); err != nil {
			return err
		}
		if err = os.Rename(tmp, uriFile); err != nil {
			return err
		}
	}
	fmt.Println(uri)

	return f.Run(ctx)
}
