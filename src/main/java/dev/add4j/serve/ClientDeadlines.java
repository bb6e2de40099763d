package dev.add4j.serve;

import org.eclipse.jetty.http.HttpParser;
import org.eclipse.jetty.io.Connection;
import org.eclipse.jetty.io.EndPoint;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.internal.HttpConnection;
import org.eclipse.jetty.util.thread.Scheduler;

import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * HTTP/1 connections that must send each request's headers within one deadline and its body within another, or are
 * closed. Jetty's idle timeout only bounds the time between two bytes, so a client that sends a byte every few
 * seconds (slowloris) would hold a connection, and while its body trickles in a handler thread, for as long as it
 * likes; Jetty 12 has no total header or body timeout of its own.
 * <p>
 * A watch per connection looks at its parser every quarter of the shorter deadline: waiting for a request line or
 * headers (which includes a kept-alive connection waiting for its next request), reading a body, or neither (the
 * request is being handled: generating may take minutes, and no deadline applies). It reads Jetty's
 * {@code internal.HttpConnection}, the one place that knows the parser's state.
 */
final class ClientDeadlines extends HttpConnectionFactory {
    private final long headerNanos, bodyNanos, periodNanos;

    /**
     * @param header the longest a request's line and headers may take, from the connection's opening or the end of
     *               the previous request
     * @param body   the longest its body may take once the headers are in
     */
    ClientDeadlines(HttpConfiguration config, Duration header, Duration body) {
        super(config);
        headerNanos = header.toNanos();
        bodyNanos = body.toNanos();
        periodNanos = Math.max(1, Math.min(headerNanos, bodyNanos) / 4);
    }

    @Override public Connection newConnection(Connector connector, EndPoint endPoint) {
        Connection c = super.newConnection(connector, endPoint);
        if (c instanceof HttpConnection http) new Watch(http, endPoint, connector.getScheduler()).next();
        return c;
    }

    private enum Phase { HEADERS, BODY, HANDLING }

    /** One connection's watch: the phase it is in, since when, and the deadline of that phase. */
    private final class Watch implements Runnable {
        private final HttpConnection http;
        private final EndPoint endPoint;
        private final Scheduler scheduler;
        private Phase phase;
        private long request = -1, since;   // the phase's request (Jetty counts requests whose headers are in)

        Watch(HttpConnection http, EndPoint endPoint, Scheduler scheduler) {
            this.http = http;
            this.endPoint = endPoint;
            this.scheduler = scheduler;
        }

        void next() { scheduler.schedule(this, periodNanos, TimeUnit.NANOSECONDS); }

        @Override public void run() {
            if (!endPoint.isOpen()) return;
            HttpParser parser = http.getParser();
            Phase now = parser.inHeaderState() ? Phase.HEADERS : parser.inContentState() ? Phase.BODY : Phase.HANDLING;
            long t = System.nanoTime();
            // a new phase, or the same phase of the next request on a kept-alive connection: its clock starts now
            if (now != phase || http.getMessagesIn() != request) {
                phase = now;
                request = http.getMessagesIn();
                since = t;
            }
            long limit = phase == Phase.HEADERS ? headerNanos : phase == Phase.BODY ? bodyNanos : Long.MAX_VALUE;
            if (t - since > limit) {
                // closed without an answer, as Jetty's idle timeout does; a handler blocked reading the body gets
                // an error and ends
                endPoint.close(new TimeoutException("request " + (phase == Phase.HEADERS ? "headers" : "body")
                        + " not received within " + Duration.ofNanos(limit).toMillis() + " ms"));
                return;
            }
            next();
        }
    }
}
