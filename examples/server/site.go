package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"
)

// site is the demo's local test site: some pages work, some fail the way
// real sites do.
type site struct {
	url string
	srv *http.Server
}

func startSite() (*site, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	page := func(body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, body) }
	}
	status := func(code int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) { http.Error(w, http.StatusText(code), code) }
	}
	mux.Handle("/products/1", page(`<html><h1>Kettle</h1><span class="price">24.90</span></html>`))
	mux.Handle("/products/2", status(http.StatusServiceUnavailable))
	mux.Handle("/products/3", status(http.StatusNotFound))
	mux.Handle("/products/4", page(`<html><h1>Toaster</h1><p>Price on request</p></html>`))
	mux.HandleFunc("/products/5", func(w http.ResponseWriter, r *http.Request) {
		select { // slower than the worker waits
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	mux.Handle("/api/products/6", page(`{"name": "Blender", "price": 19.5,`))
	mux.Handle("/products/7", status(http.StatusForbidden))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return &site{url: "http://" + ln.Addr().String(), srv: srv}, nil
}

func (s *site) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.srv.Shutdown(ctx)
}
