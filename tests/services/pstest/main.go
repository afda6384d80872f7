// Command pstest serves Google's in-memory fake Pub/Sub (package pstest) as
// plain gRPC on the address given as its only argument, for tests that set
// PUBSUB_EMULATOR_HOST to that address. It runs until killed.
package main

import (
	"log"
	"os"
	"os/signal"
	"syscall"

	"cloud.google.com/go/pubsub/v2/pstest"
)

func main() {
	if len(os.Args) != 2 {
		log.Fatal("usage: pstest 127.0.0.1:PORT")
	}
	server := pstest.NewServerWithAddress(os.Args[1])
	log.Printf("pstest listening on %s", server.Addr)
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
	server.Close()
}
