// The node's sandbox ("pause") image: a process that holds a Pod's namespaces and does nothing
// until it is told to stop. Built here, as nothing can be pulled from a registry.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
}
